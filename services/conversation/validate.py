"""Request checks of the conversation service."""

from __future__ import annotations

from collections.abc import Mapping

from avatarchat.conversation.v1 import conversation_pb2
from services.runtime.validation import Checks

MAX_TEXT = 4000
MAX_REQUEST_ID = 64
MAX_VISITOR_ID = 128
MAX_PAGE_URL = 2048
MAX_METADATA_KEYS = 20
CHANNELS = frozenset(conversation_pb2.Channel.values())


def visitor_id(checks: Checks, field: str, value: str) -> str:
    """1-128 characters without "/" or control characters."""
    if not value:
        checks.fail(field, "required")
    elif len(value) > MAX_VISITOR_ID:
        checks.fail(field, f"at most {MAX_VISITOR_ID} characters")
    elif "/" in value or any(ord(c) < 32 for c in value):
        checks.fail(field, "must not contain '/' or control characters")
    return value


def page_url(checks: Checks, field: str, value: str) -> str:
    """An optional URL of at most 2048 characters."""
    if len(value) > MAX_PAGE_URL:
        checks.fail(field, f"at most {MAX_PAGE_URL} characters")
    return value


def metadata(checks: Checks, field: str, value: Mapping[str, str]) -> dict[str, str]:
    """At most 20 keys of 1-64 and values of 512 characters."""
    if len(value) > MAX_METADATA_KEYS:
        checks.fail(field, f"at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > 64:
            checks.fail(f"{field}[{key[:64]}]", "keys have 1-64 characters")
        elif len(item) > 512:
            checks.fail(f"{field}[{key}]", "values have at most 512 characters")
    return dict(value)


def channel(checks: Checks, field: str, value: int) -> int:
    """A known channel."""
    if value not in CHANNELS:
        checks.fail(field, "unknown channel")
    return value


def message_text(checks: Checks, field: str, value: str) -> str:
    """The visitor's message: 1-4000 characters, not only whitespace."""
    if not value.strip():
        checks.fail(field, "required")
    elif len(value) > MAX_TEXT:
        checks.fail(field, f"at most {MAX_TEXT} characters (got {len(value)})")
    return value


def request_id(checks: Checks, field: str, value: str) -> str:
    """An optional idempotency key of at most 64 characters."""
    if len(value) > MAX_REQUEST_ID:
        checks.fail(field, f"at most {MAX_REQUEST_ID} characters")
    return value
