"""Parses AIP resource names (`tenants/{tenant}/chatbots/{chatbot}`) into ids, with clear field errors."""

from __future__ import annotations

import re
import uuid
from functools import cache

from services.runtime.errors import InvalidArgument

_VAR = re.compile(r"\{(\w+)\}")
MAX_NAME_LENGTH = 512


@cache
def _compiled(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    keys = tuple(_VAR.findall(pattern))
    regex = "^" + _VAR.sub(r"([^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}")) + "$"
    return re.compile(regex), keys


def parse(name: str, pattern: str, field: str = "name") -> dict[str, uuid.UUID]:
    """The UUIDs of `name` by variable; INVALID_ARGUMENT naming `field` when it does not match `pattern`."""
    if not name:
        raise InvalidArgument.field(field, f"required; expected {pattern}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument.field(field, f"longer than {MAX_NAME_LENGTH} characters")
    regex, keys = _compiled(pattern)
    match = regex.match(name)
    if match is None:
        raise InvalidArgument.field(field, f"expected {pattern}, got {name[:80]!r}")
    ids: dict[str, uuid.UUID] = {}
    for key, value in zip(keys, match.groups(), strict=True):
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            raise InvalidArgument.field(field, f"{key} id {value[:40]!r} is not a UUID") from None
        if str(parsed) != value:
            raise InvalidArgument.field(field, f"{key} id {value[:40]!r} is not a canonical UUID")
        ids[key] = parsed
    return ids


def tenant_name(tenant_id: uuid.UUID) -> str:
    """`tenants/{tenant}`."""
    return f"tenants/{tenant_id}"


def parse_tenant(name: str, field: str = "name") -> uuid.UUID:
    """The tenant id of `tenants/{tenant}`."""
    return parse(name, "tenants/{tenant}", field)["tenant"]
