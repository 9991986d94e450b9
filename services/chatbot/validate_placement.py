"""Checks of a chatbot's placement: domains, path globs, position, theme, open delay and business hours."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection

from avatarchat.chatbot.v1 import chatbot_pb2
from services.chatbot import placement as rules
from services.runtime.validation import Checks

MAX_DOMAINS = 100
MAX_PATHS = 50
MAX_PATH_LENGTH = 200
MAX_OFFSET_PX = 500
MAX_OPEN_DELAY_SECONDS = 3600
MAX_WINDOWS = 50
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def time_zone(checks: Checks, field: str, value: str) -> None:
    """An optional IANA time zone name."""
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        checks.fail(field, f"unknown IANA time zone {value[:60]!r}")


def _domains(checks: Checks, field: str, values: Collection[str]) -> list[str]:
    if len(values) > MAX_DOMAINS:
        checks.fail(field, f"at most {MAX_DOMAINS} domains")
        return []
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            rules.parse_domain(value)
        except ValueError as exc:
            checks.fail(f"{field}[{i}]", str(exc))
            continue
        canonical = rules.canonical_domain(value)
        if canonical not in out:
            out.append(canonical)
    return out


def _paths(checks: Checks, field: str, values: Collection[str]) -> list[str]:
    if len(values) > MAX_PATHS:
        checks.fail(field, f"at most {MAX_PATHS} patterns")
        return []
    for i, value in enumerate(values):
        at = f"{field}[{i}]"
        if not value.startswith("/"):
            checks.fail(at, "a path pattern starts with '/', e.g. /shop/**")
        elif len(value) > MAX_PATH_LENGTH:
            checks.fail(at, f"at most {MAX_PATH_LENGTH} characters")
        elif any(c.isspace() or ord(c) < 32 for c in value):
            checks.fail(at, "contains whitespace or control characters")
        elif "***" in value:
            checks.fail(at, "use '*' within a segment or '**' across segments")
    return list(values)


def _hours(checks: Checks, field: str, hours: chatbot_pb2.BusinessHours) -> chatbot_pb2.BusinessHours:
    out = chatbot_pb2.BusinessHours()
    out.CopyFrom(hours)
    time_zone(checks, f"{field}.time_zone", hours.time_zone)
    out.off_hours_message = checks.text(
        f"{field}.off_hours_message", hours.off_hours_message, required=False, max_len=500
    )
    if len(hours.windows) > MAX_WINDOWS:
        checks.fail(f"{field}.windows", f"at most {MAX_WINDOWS} windows")
        return out
    for i, window in enumerate(hours.windows):
        at = f"{field}.windows[{i}]"
        if window.day not in range(chatbot_pb2.DAY_OF_WEEK_MONDAY, chatbot_pb2.DAY_OF_WEEK_SUNDAY + 1):
            checks.fail(f"{at}.day", "required: a DayOfWeek other than UNSPECIFIED")
        start = rules.parse_clock(window.start_time)
        end = rules.parse_clock(window.end_time, allow_end_of_day=True)
        if start is None:
            checks.fail(f"{at}.start_time", "HH:MM between 00:00 and 23:59")
        if end is None:
            checks.fail(f"{at}.end_time", "HH:MM between 00:01 and 24:00")
        if start is not None and end is not None and end <= start:
            # A span past midnight is two windows: 22:00-24:00 on one day and 00:00-02:00 on the next.
            checks.fail(f"{at}.end_time", "must be after start_time; split spans past midnight at 24:00")
    return out


def placement(checks: Checks, field: str, p: chatbot_pb2.Placement) -> chatbot_pb2.Placement:
    """The placement with domains canonical; every wrong field recorded under `field`."""
    out = chatbot_pb2.Placement()
    out.CopyFrom(p)
    del out.allowed_domains[:]
    out.allowed_domains.extend(_domains(checks, f"{field}.allowed_domains", p.allowed_domains))
    _paths(checks, f"{field}.include_paths", p.include_paths)
    _paths(checks, f"{field}.exclude_paths", p.exclude_paths)
    if p.position not in chatbot_pb2.Position.DESCRIPTOR.values_by_number:
        checks.fail(f"{field}.position", f"unknown Position value {p.position}")
    if p.launcher_style not in chatbot_pb2.LauncherStyle.DESCRIPTOR.values_by_number:
        checks.fail(f"{field}.launcher_style", f"unknown LauncherStyle value {p.launcher_style}")
    for name in ("offset_x_px", "offset_y_px"):
        if not 0 <= getattr(p, name) <= MAX_OFFSET_PX:
            checks.fail(f"{field}.{name}", f"between 0 and {MAX_OFFSET_PX} pixels")
    for name in ("primary_color", "background_color", "text_color"):
        color = getattr(p.theme, name)
        if color and not _COLOR.match(color):
            checks.fail(f"{field}.theme.{name}", "a colour as #RRGGBB")
        elif color:
            setattr(out.theme, name, color.lower())
    if p.HasField("open_delay"):
        delay = p.open_delay
        if delay.seconds < 0 or delay.nanos < 0 or delay.seconds > MAX_OPEN_DELAY_SECONDS or delay.nanos >= 10**9:
            checks.fail(f"{field}.open_delay", f"between 0 and {MAX_OPEN_DELAY_SECONDS} seconds")
    if p.HasField("business_hours"):
        out.business_hours.CopyFrom(_hours(checks, f"{field}.business_hours", p.business_hours))
    return out
