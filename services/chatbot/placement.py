"""Pure placement rules: which origins, page paths and times a chatbot's widget may show on."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

MAX_HOST_LENGTH = 253
MINUTES_PER_DAY = 24 * 60
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HostPattern:
    """One allowed-domains entry, normalized: an exact host or every subdomain of `host`, on one port or any."""

    host: str
    """ASCII (punycode), lower-case, without trailing dot; for a wildcard the part after `*.`."""
    wildcard: bool
    """`*.example.com`: any subdomain, at any depth, but not the apex itself."""
    port: int | None
    """Only this port; None matches every port."""

    def matches(self, host: str, port: int) -> bool:
        """Whether a normalized origin host and effective port fall under this entry."""
        if self.port is not None and self.port != port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def normalize_host(host: str) -> str:
    """`host` lower-cased, without trailing dot, IDNs as punycode, IPs canonical; ValueError when invalid."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
    if ":" in host:
        return "[" + ipaddress.IPv6Address(host).compressed + "]"
    host = host.removesuffix(".")
    if not host:
        raise ValueError("empty host")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not a valid host name: {host[:80]!r}") from None
    ascii_host = ascii_host.lower()
    if len(ascii_host) > MAX_HOST_LENGTH or not all(_LABEL.match(label) for label in ascii_host.split(".")):
        raise ValueError(f"not a valid host name: {host[:80]!r}")
    return ascii_host


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in IPv6 address")
        host, rest = entry[: end + 1], entry[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("unexpected text after IPv6 address")
        port_text = rest[1:]
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    else:
        return entry, None
    if not _PORT.match(port_text) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 1-65535, got {port_text[:10]!r}")
    return host, int(port_text)


def parse_domain(entry: str) -> HostPattern:
    """An allowed-domains entry (`www.example.com`, `*.example.com`, `localhost:3000`); ValueError if malformed."""
    text = entry.strip()
    if "://" in text or "/" in text or "@" in text:
        raise ValueError("a host name such as www.example.com or *.example.com, without scheme or path")
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    if "*" in text:
        raise ValueError("'*' is only allowed as the whole first label, as in *.example.com")
    host_text, port = _split_port(text)
    host = normalize_host(host_text)
    if wildcard and (host.startswith("[") or _is_ipv4(host)):
        raise ValueError("wildcards apply to host names, not IP addresses")
    if wildcard and host.count(".") < 1:
        raise ValueError("a wildcard needs at least two labels after '*.', as in *.example.com")
    return HostPattern(host=host, wildcard=wildcard, port=port)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def canonical_domain(entry: str) -> str:
    """How a valid entry is stored: trimmed, lower-case, no trailing dot (Unicode kept for the dashboard)."""
    host, port = _split_port(entry.strip().lower())
    host = host.removesuffix(".")
    return host if port is None else f"{host}:{port}"


def parse_origin(origin: str) -> tuple[str, int] | None:
    """The normalized host and effective port of an http(s) origin; None for `null`, other schemes or junk."""
    try:
        parts = urlsplit(origin.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
            return None
        port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
        host_text = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        return normalize_host(host_text), port
    except ValueError:
        return None


def origin_allowed(origin: str, allowed_domains: Iterable[str]) -> bool:
    """Whether `origin` matches an entry; an empty list allows nothing (a bot must be told where it lives)."""
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    host, port = parsed
    for entry in allowed_domains:
        try:
            pattern = parse_domain(entry)
        except ValueError:
            continue  # stored entries are validated; an unparseable one must never widen access
        if pattern.matches(host, port):
            return True
    return False


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `*` within one segment, `**` across segments, `/**` also the bare prefix."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and (i + 3 == len(pattern) or pattern[i + 3] == "/"):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def page_path(page_url: str) -> str:
    """The decoded path of a page URL (or of a bare path); `/` when it has none."""
    path = unquote(urlsplit(page_url.strip()).path)
    return path if path.startswith("/") else "/" + path


def path_visible(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a path passes the globs: some include (or none given) matches and no exclude does."""
    candidates = {path, path.rstrip("/") or "/"}

    def hit(globs: Sequence[str]) -> bool:
        return any(compile_glob(g).fullmatch(c) for g in globs for c in candidates)

    return (not include or hit(include)) and not hit(exclude)


def parse_clock(text: str, *, allow_end_of_day: bool = False) -> int | None:
    """Minutes since midnight of `HH:MM`; `24:00` only when `allow_end_of_day`; None when malformed."""
    if allow_end_of_day and text == "24:00":
        return MINUTES_PER_DAY
    match = _CLOCK.match(text)
    if match is None:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


@dataclass(frozen=True)
class Window:
    """One open span: ISO weekday (1 = Monday) and [start, end) in minutes since local midnight."""

    day: int
    start: int
    end: int


def window(day: int, start_time: str, end_time: str) -> Window | None:
    """The window of a stored `HH:MM` span; None for a malformed one (validation keeps them out)."""
    start = parse_clock(start_time)
    end = parse_clock(end_time, allow_end_of_day=True)
    return Window(day, start, end) if start is not None and end is not None else None


def is_open(windows: Sequence[Window], time_zone: str, now: datetime) -> bool:
    """Whether the aware instant `now` falls in a window, read in `time_zone`; no windows means always open."""
    if not windows:
        return True
    local = now.astimezone(ZoneInfo(time_zone or "UTC"))
    minute = local.hour * 60 + local.minute
    day = local.isoweekday()
    return any(w.day == day and w.start <= minute < w.end for w in windows)
