"""Checks of tenant requests: slugs, plans, configuration and update masks."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from google.protobuf import field_mask_pb2

from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.errors import InvalidArgument
from services.runtime.validation import Checks
from services.tenant.convert import CONFIG_FIELDS

_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
_PLAN = re.compile(r"^plans/([a-z0-9-]{1,40})$")
MAX_RETENTION_DAYS = 3650
UPDATABLE_PATHS = frozenset({"display_name", "config", *(f"config.{f}" for f in CONFIG_FIELDS)})


def plan_id(checks: Checks, field: str, value: str, default: str) -> str:
    """The plan id of `plans/{plan}`; `default` when empty."""
    if not value:
        return default
    match = _PLAN.match(value)
    if match is None:
        checks.fail(field, "expected plans/{plan}")
        return ""
    return match.group(1)


def config(checks: Checks, field: str, cfg: tenant_pb2.TenantConfig, paths: set[str]) -> dict[str, Any]:
    """The validated subset of `cfg` named by `paths` (bare field names), as stored JSON."""
    out: dict[str, Any] = {}
    if "default_language" in paths:
        if cfg.default_language and not _LANGUAGE.match(cfg.default_language):
            checks.fail(f"{field}.default_language", "not a BCP-47 language tag such as 'en' or 'pt-BR'")
        out["default_language"] = cfg.default_language
    if "time_zone" in paths:
        if cfg.time_zone:
            try:
                zoneinfo.ZoneInfo(cfg.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                checks.fail(f"{field}.time_zone", f"unknown IANA time zone {cfg.time_zone[:60]!r}")
        out["time_zone"] = cfg.time_zone
    if "billing_email" in paths:
        out["billing_email"] = checks.email(f"{field}.billing_email", cfg.billing_email) if cfg.billing_email else ""
    if "retention_days" in paths:
        if not 0 <= cfg.retention_days <= MAX_RETENTION_DAYS:
            checks.fail(f"{field}.retention_days", f"between 0 and {MAX_RETENTION_DAYS}")
        out["retention_days"] = cfg.retention_days
    return out


def update_paths(mask: field_mask_pb2.FieldMask) -> set[str]:
    """The mask's paths (empty = everything updatable); INVALID_ARGUMENT for an unknown path."""
    paths = set(mask.paths) or {"display_name", "config"}
    unknown = sorted(paths - UPDATABLE_PATHS)
    if unknown:
        raise InvalidArgument.field("update_mask", f"cannot update {', '.join(unknown)}")
    return paths
