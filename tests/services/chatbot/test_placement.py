"""Unit tests of the pure placement rules: domains, origins, path globs and business hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.chatbot import placement
from services.chatbot.placement import HostPattern, Window

MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        # Exact hosts, case and trailing dots.
        ("https://www.example.com", ["www.example.com"], True),
        ("https://WWW.Example.COM", ["www.example.com"], True),
        ("https://www.example.com", ["WWW.EXAMPLE.COM."], True),
        ("https://www.example.com.", ["www.example.com"], True),
        ("https://example.com", ["www.example.com"], False),
        ("https://shop.www.example.com", ["www.example.com"], False),
        # Wildcards: any subdomain at any depth, never the apex unless listed.
        ("https://shop.example.com", ["*.example.com"], True),
        ("https://a.b.example.com", ["*.example.com"], True),
        ("https://example.com", ["*.example.com"], False),
        ("https://example.com", ["*.example.com", "example.com"], True),
        ("https://evil-example.com", ["*.example.com"], False),
        ("https://example.com.evil.net", ["*.example.com"], False),
        ("https://shop.example.com.evil.net", ["*.example.com", "example.com"], False),
        ("https://notexample.com", ["example.com"], False),
        # Ports: an entry without one allows every port; with one, only that; default ports are implied.
        ("http://localhost:3000", ["localhost"], True),
        ("http://localhost:3000", ["localhost:3000"], True),
        ("http://localhost:3001", ["localhost:3000"], False),
        ("https://shop.example.com:8443", ["*.example.com:8443"], True),
        ("https://shop.example.com", ["*.example.com:8443"], False),
        ("https://example.com", ["example.com:443"], True),
        ("https://example.com:443", ["example.com:443"], True),
        ("http://example.com", ["example.com:443"], False),
        ("http://example.com", ["example.com:80"], True),
        # Internationalized names: Unicode or punycode on either side, lower-cased.
        ("https://xn--bcher-kva.de", ["bücher.de"], True),
        ("https://bücher.de", ["BÜCHER.de"], True),
        ("https://shop.xn--bcher-kva.de", ["*.Bücher.DE"], True),
        ("https://xn--bcher-kva.de", ["*.bücher.de"], False),
        ("https://bucher.de", ["bücher.de"], False),
        # IP literals.
        ("http://127.0.0.1:8080", ["127.0.0.1"], True),
        ("http://[::1]:8080", ["[::1]:8080"], True),
        ("http://[0:0::1]", ["[::1]"], True),
        # Things that are never an allowed origin.
        ("null", ["example.com"], False),
        ("", ["example.com"], False),
        ("ftp://example.com", ["example.com"], False),
        ("https://user@example.com", ["example.com"], False),
        ("https://", ["example.com"], False),
        ("https://example.com:99999", ["example.com"], False),
        ("example.com", ["example.com"], False),
        # An empty allow-list allows nothing.
        ("https://example.com", [], False),
        ("http://localhost", [], False),
    ],
)
def test_origin_allowed(origin: str, allowed: list[str], expected: bool) -> None:
    assert placement.origin_allowed(origin, allowed) is expected


def test_an_unparseable_stored_entry_never_widens_access() -> None:
    assert not placement.origin_allowed("https://example.com", ["*", "https://example.com", ""])
    assert placement.origin_allowed("https://example.com", ["not valid!", "example.com"])


@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        ("example.com", HostPattern("example.com", wildcard=False, port=None)),
        (" *.Example.com. ", HostPattern("example.com", wildcard=True, port=None)),
        ("localhost:3000", HostPattern("localhost", wildcard=False, port=3000)),
        ("*.bücher.de:8080", HostPattern("xn--bcher-kva.de", wildcard=True, port=8080)),
        ("[::1]:8080", HostPattern("[::1]", wildcard=False, port=8080)),
        ("::1", HostPattern("[::1]", wildcard=False, port=None)),
    ],
)
def test_parse_domain(entry: str, pattern: HostPattern) -> None:
    assert placement.parse_domain(entry) == pattern


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "*",
        "*.com",
        "a*.example.com",
        "*.*.example.com",
        "https://example.com",
        "example.com/shop",
        "user@example.com",
        "exa mple.com",
        "bad_host.example.com",
        "-leading.example.com",
        "trailing-.example.com",
        "example..com",
        "example.com:0",
        "example.com:70000",
        "example.com:http",
        "*.127.0.0.1",
        "[::1",
        "a" * 64 + ".com",
    ],
)
def test_parse_domain_refuses(entry: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        placement.parse_domain(entry)


def test_canonical_domain_keeps_unicode_and_port() -> None:
    assert placement.canonical_domain(" *.Bücher.DE.:8080 ") == "*.bücher.de:8080"
    assert placement.canonical_domain("WWW.Example.com.") == "www.example.com"


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        ("/", "/", True),
        ("/pricing", "/pricing", True),
        ("/pricing", "/pricing/plans", False),
        ("/blog/*", "/blog/hello", True),
        ("/blog/*", "/blog/", True),
        ("/blog/*", "/blog/2024/hello", False),
        ("/blog/*/comments", "/blog/hello/comments", True),
        ("/shop/**", "/shop", True),
        ("/shop/**", "/shop/", True),
        ("/shop/**", "/shop/shoes/red", True),
        ("/shop/**", "/shopping", False),
        ("/**/checkout", "/checkout", True),
        ("/**/checkout", "/eu/de/checkout", True),
        ("/**/checkout", "/eu/de/checkout/done", False),
        ("/docs/**.pdf", "/docs/a/b.pdf", True),
        ("/**", "/anything/at/all", True),
        ("/*.html", "/index.html", True),
        ("/*.html", "/a/index.html", False),
        ("/a.b", "/axb", False),
        ("/(x)", "/(x)", True),
    ],
)
def test_glob(glob: str, path: str, expected: bool) -> None:
    assert bool(placement.compile_glob(glob).fullmatch(path)) is expected


def test_path_visibility_with_include_and_exclude() -> None:
    include = ["/shop/**", "/pricing"]
    exclude = ["/shop/checkout/**", "/**/admin"]
    assert placement.path_visible("/shop/shoes", include, exclude)
    assert placement.path_visible("/pricing/", include, exclude)  # a trailing slash is the same page
    assert not placement.path_visible("/about", include, exclude)
    assert not placement.path_visible("/shop/checkout", include, exclude)  # excludes win
    assert not placement.path_visible("/shop/checkout/pay", include, exclude)
    assert not placement.path_visible("/shop/admin", include, exclude)
    assert placement.path_visible("/anything", [], [])
    assert not placement.path_visible("/private/x", [], ["/private/**"])


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://example.com/shop/shoes?color=red#top", "/shop/shoes"),
        ("https://example.com", "/"),
        ("https://example.com/caf%C3%A9", "/café"),
        ("/relative/path", "/relative/path"),
    ],
)
def test_page_path(url: str, path: str) -> None:
    assert placement.page_path(url) == path


@pytest.mark.parametrize(
    ("text", "end", "minutes"),
    [
        ("00:00", False, 0),
        ("09:30", False, 570),
        ("23:59", False, 1439),
        ("24:00", True, 1440),
        ("24:00", False, None),
        ("24:01", True, None),
        ("9:30", False, None),
        ("09:60", False, None),
        ("0930", False, None),
        ("", False, None),
    ],
)
def test_parse_clock(text: str, end: bool, minutes: int | None) -> None:
    assert placement.parse_clock(text, allow_end_of_day=end) == minutes


def _at(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An aware instant given as local wall-clock time in `zone`, handed to is_open in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


OFFICE = [Window(day, 9 * 60, 17 * 60) for day in (MON, TUE, WED, THU, FRI)]


def test_business_hours_on_weekdays_in_the_bots_time_zone() -> None:
    berlin = "Europe/Berlin"
    # 2025-03-03 is a Monday.
    assert placement.is_open(OFFICE, berlin, _at(berlin, 2025, 3, 3, 9, 0))
    assert placement.is_open(OFFICE, berlin, _at(berlin, 2025, 3, 3, 16, 59))
    assert not placement.is_open(OFFICE, berlin, _at(berlin, 2025, 3, 3, 17, 0))  # the end is exclusive
    assert not placement.is_open(OFFICE, berlin, _at(berlin, 2025, 3, 3, 8, 59))
    assert not placement.is_open(OFFICE, berlin, _at(berlin, 2025, 3, 8, 12, 0))  # Saturday
    # 08:30 UTC is 09:30 in Berlin (open) but 03:30 in New York (closed).
    instant = datetime(2025, 3, 3, 8, 30, tzinfo=UTC)
    assert placement.is_open(OFFICE, berlin, instant)
    assert not placement.is_open(OFFICE, "America/New_York", instant)
    assert not placement.is_open(OFFICE, "", instant)  # empty zone means UTC: 08:30 is before 09:00


def test_business_hours_across_midnight_and_the_week_wrap() -> None:
    # Sunday 22:00 to Monday 06:00, written as two windows split at midnight.
    night = [Window(SUN, 22 * 60, 24 * 60), Window(MON, 0, 6 * 60)]
    tokyo = "Asia/Tokyo"
    assert placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 9, 22, 0))  # Sunday
    assert placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 9, 23, 59))
    assert placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 10, 0, 0))  # Monday
    assert placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 10, 5, 59))
    assert not placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 10, 6, 0))
    assert not placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 8, 23, 0))  # Saturday night
    assert not placement.is_open(night, tokyo, _at(tokyo, 2025, 3, 9, 21, 59))
    # The same instant is Sunday night in Tokyo but Sunday afternoon in UTC.
    assert not placement.is_open(night, "UTC", _at(tokyo, 2025, 3, 9, 23, 0))


def test_business_hours_when_the_clock_changes() -> None:
    early = [Window(SUN, 1 * 60, 4 * 60)]
    berlin = "Europe/Berlin"
    # 2025-03-30: clocks jump from 02:00 to 03:00 in Berlin; 00:30 UTC is 01:30 CET, 01:30 UTC is 03:30 CEST.
    assert placement.is_open(early, berlin, datetime(2025, 3, 30, 0, 30, tzinfo=UTC))
    assert placement.is_open(early, berlin, datetime(2025, 3, 30, 1, 30, tzinfo=UTC))
    assert not placement.is_open(early, berlin, datetime(2025, 3, 30, 2, 0, tzinfo=UTC))  # 04:00 CEST


def test_no_windows_means_always_open() -> None:
    assert placement.is_open([], "Europe/Berlin", datetime(2025, 1, 1, tzinfo=UTC))
