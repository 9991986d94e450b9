"""URL imports cannot reach internal hosts: address checks, resolution, redirects re-checked, size caps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.knowledge.errors import DocumentTooLargeError
from services.knowledge.url_fetch import FetchError, SafeFetcher, UrlNotAllowedError
from services.runtime.addresses import address_allowed
from tests.services.knowledge.service_env import LoopbackSite


@pytest.fixture(scope="module")
def site() -> Iterator[LoopbackSite]:
    """A page, a redirect to another loopback address, a redirect loop, a 404 and a large page."""
    with LoopbackSite({"/page": (200, "text/html", b"<p>hello</p>"), "/big": (200, "text/plain", b"x" * 5000)}) as s:
        s.routes["/to-other-loopback"] = lambda path: (302, {"location": f"http://127.0.0.2:{s.port}/page"}, b"")
        s.routes["/loop"] = lambda path: (302, {"location": "/loop"}, b"")
        yield s


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "fc00::1",
     "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_internal_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address, allow_private=False)


def test_public_addresses_pass_and_configuration_opens_private_ones() -> None:
    assert address_allowed("93.184.216.34", allow_private=False)
    assert address_allowed("2606:2800:220:1:248:1893:25c8:1946", allow_private=False)
    assert address_allowed("127.0.0.1", allow_private=True)
    assert not address_allowed("0.0.0.0", allow_private=True)


async def test_loopback_is_refused_by_default(site: LoopbackSite) -> None:
    fetcher = SafeFetcher(allow_private=False, timeout_seconds=5, max_bytes=1 << 20)
    try:
        with pytest.raises(UrlNotAllowedError):
            await fetcher.fetch(site.url("/page"))
        with pytest.raises(UrlNotAllowedError):
            await fetcher.fetch(f"http://localhost:{site.port}/page")
        with pytest.raises(UrlNotAllowedError):
            await fetcher.fetch("ftp://example.com/file")
        assert "/page" not in site.hits
    finally:
        await fetcher.aclose()


async def test_every_redirect_hop_is_checked_again(site: LoopbackSite) -> None:
    # Only 127.0.0.1 counts as allowed here, so the redirect to 127.0.0.2 stands for one into a private network.
    fetcher = SafeFetcher(allow_private=False, timeout_seconds=5, max_bytes=1 << 20, allowed="127.0.0.1".__eq__)
    try:
        assert (await fetcher.fetch(site.url("/page"))).content == b"<p>hello</p>"
        with pytest.raises(UrlNotAllowedError):
            await fetcher.fetch(site.url("/to-other-loopback"))
        with pytest.raises(FetchError, match="redirects"):
            await fetcher.fetch(site.url("/loop"))
        with pytest.raises(FetchError, match="404") as caught:
            await fetcher.fetch(site.url("/missing"))
        assert not caught.value.retryable
    finally:
        await fetcher.aclose()


async def test_pages_over_the_cap_are_refused(site: LoopbackSite) -> None:
    fetcher = SafeFetcher(allow_private=True, timeout_seconds=5, max_bytes=1000)
    try:
        with pytest.raises(DocumentTooLargeError):
            await fetcher.fetch(site.url("/big"))
    finally:
        await fetcher.aclose()
