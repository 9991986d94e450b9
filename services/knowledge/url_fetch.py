"""Fetching web pages for URL imports without letting a tenant reach internal hosts (SSRF).

The host is resolved here, every address is checked (private, loopback, link-local, multicast, reserved and
unspecified ranges are refused unless configured otherwise), and the connection goes to the checked address, so
a DNS answer that changes between check and connect cannot redirect it. Redirects are followed by hand and each
hop is checked again. TLS still verifies the certificate against the original host name (SNI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import grpc
import httpx

from services.knowledge.errors import DocumentTooLargeError, KnowledgeError
from services.runtime.addresses import address_allowed, resolved_addresses

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
USER_AGENT = "avatarchat-knowledge/1.0 (+https://avatarchat.local/bot)"


class UrlNotAllowedError(KnowledgeError):
    """The URL is malformed or points at an address a tenant may not make the platform fetch."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "URL_NOT_ALLOWED"


class FetchError(KnowledgeError):
    """The page could not be fetched; `retryable` says whether trying later may help."""

    reason = "URL_FETCH_FAILED"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class FetchedPage:
    """A downloaded page."""

    url: str
    """The final URL after redirects."""
    content: bytes
    mime_type: str


def check_syntax(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of an absolute http(s) URL; UrlNotAllowedError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowedError("only absolute http and https URLs can be imported")
    if parts.username or parts.password:
        raise UrlNotAllowedError("URLs with credentials cannot be imported")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlNotAllowedError("the URL's port is not a number") from None
    return parts.scheme, parts.hostname, port


class SafeFetcher:
    """Downloads pages through checked addresses, with a deadline and a size cap per request."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float,
        max_bytes: int,
        allowed: Callable[[str], bool] | None = None,
    ) -> None:
        self._allowed = allowed or (lambda address: address_allowed(address, allow_private))
        self._max_bytes = max_bytes
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    async def resolve(self, url: str) -> str:
        """The checked address to connect to for `url`; refuses if any address of the host is not allowed."""
        _, host, port = check_syntax(url)
        addresses = await resolved_addresses(host, port)
        if addresses is None:
            raise FetchError(f"cannot resolve {host}", retryable=True)
        if not addresses or not all(self._allowed(a) for a in addresses):
            raise UrlNotAllowedError(f"{host} resolves to an address that may not be fetched")
        return addresses[0]

    async def fetch(self, url: str) -> FetchedPage:
        """The page at `url`, following up to five redirects, each checked like the first request."""
        for _ in range(MAX_REDIRECTS + 1):
            response_url, status, location, content, mime = await self._get(url)
            if status in _REDIRECTS and location:
                url = urljoin(response_url, location)
                continue
            if status >= 500 or status == 429:
                raise FetchError(f"{url} answered HTTP {status}", retryable=True)
            if status >= 400:
                raise FetchError(f"{url} answered HTTP {status}", retryable=False)
            return FetchedPage(url=url, content=content, mime_type=mime)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects from {url}", retryable=False)

    async def _get(self, url: str) -> tuple[str, int, str, bytes, str]:
        scheme, host, port = check_syntax(url)
        address = await self.resolve(url)
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        target = parts._replace(netloc=f"{literal}:{port}").geturl()
        default_port = port == (443 if scheme == "https" else 80)
        headers = {"host": host if default_port else f"{host}:{port}"}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        try:
            async with self._client.stream("GET", target, headers=headers, extensions=extensions) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise DocumentTooLargeError(
                            f"{url} is larger than {self._max_bytes} bytes", limit=self._max_bytes
                        )
                    chunks.append(chunk)
                mime = response.headers.get("content-type", "")
                return url, response.status_code, response.headers.get("location", ""), b"".join(chunks), mime
        except httpx.HTTPError as exc:
            raise FetchError(f"fetching {url} failed: {type(exc).__name__}", retryable=True) from None

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._client.aclose()
