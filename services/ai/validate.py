"""Request checks of the AI service: resource names, text lengths, periods."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from avatarchat.ai.v1 import ai_pb2
from services.runtime import errors
from services.runtime.context import require_tenant_access
from services.runtime.names import parse, parse_tenant
from services.runtime.validation import Checks

CHATBOT_PATTERN = "tenants/{tenant}/chatbots/{chatbot}"
CONVERSATION_PATTERN = "tenants/{tenant}/chatbots/{chatbot}/conversations/{conversation}"
MAX_TEXT = 4000
MAX_QUERY = 2000
MAX_REQUEST_ID = 64
MAX_EXTRA_EXAMPLES = 100
MAX_PERIOD = dt.timedelta(days=366)


def chatbot(name: str, field: str = "chatbot") -> tuple[uuid.UUID, uuid.UUID]:
    """Tenant and chatbot ids of a chatbot name the caller may use (NOT_FOUND for another tenant's)."""
    ids = parse(name, CHATBOT_PATTERN, field)
    require_tenant_access(ids["tenant"], name)
    return ids["tenant"], ids["chatbot"]


def text(checks: Checks, field: str, value: str, max_len: int = MAX_TEXT) -> str:
    """Required text of at most `max_len` characters (kept as sent: whitespace may matter to a model)."""
    if not value.strip():
        checks.fail(field, "required")
    elif len(value) > max_len:
        checks.fail(field, f"at most {max_len} characters (got {len(value)})")
    return value


def conversation(checks: Checks, name: str, chatbot_name: str) -> uuid.UUID | None:
    """The conversation id of an optional conversation name, which must belong to the chatbot."""
    if not name:
        return None
    if not name.startswith(chatbot_name + "/conversations/"):
        checks.fail("conversation", "must be a conversation of the chatbot")
        return None
    try:
        return parse(name, CONVERSATION_PATTERN, "conversation")["conversation"]
    except errors.InvalidArgument as exc:
        checks.violations.extend(exc.violations)
        return None


def answer_request(checks: Checks, message: str, history: Sequence[ai_pb2.Turn], request_id: str) -> None:
    """The shared fields of GenerateResponse and StreamResponse."""
    text(checks, "message", message)
    for i, turn in enumerate(history[-20:]):
        if len(turn.text) > MAX_TEXT:
            checks.fail(f"history[{i}].text", f"at most {MAX_TEXT} characters")
    if len(request_id) > MAX_REQUEST_ID:
        checks.fail("request_id", f"at most {MAX_REQUEST_ID} characters")


def extra_examples(checks: Checks, examples: Sequence[ai_pb2.IntentExample]) -> None:
    """At most 100 examples of 1-500 characters, each with an intent."""
    if len(examples) > MAX_EXTRA_EXAMPLES:
        checks.fail("extra_examples", f"at most {MAX_EXTRA_EXAMPLES} examples")
        return
    for i, example in enumerate(examples):
        text(checks, f"extra_examples[{i}].text", example.text, 500)
        if example.intent == ai_pb2.INTENT_UNSPECIFIED:
            checks.fail(f"extra_examples[{i}].intent", "required")


def period(
    checks: Checks, start: Timestamp, end: Timestamp, *, has_start: bool, has_end: bool
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a cost report: both required, end after start, at most 366 days."""
    begin, finish = start.ToDatetime(dt.UTC), end.ToDatetime(dt.UTC)
    if not has_start:
        checks.fail("start_time", "required")
    if not has_end:
        checks.fail("end_time", "required")
    if has_start and has_end:
        if finish <= begin:
            checks.fail("end_time", "must be after start_time")
        elif finish - begin > MAX_PERIOD:
            checks.fail("end_time", "at most 366 days after start_time")
    return begin, finish


def tenant(parent: str) -> uuid.UUID:
    """The tenant of `tenants/{tenant}` the caller may use."""
    tenant_id = parse_tenant(parent, "parent")
    require_tenant_access(tenant_id, parent)
    return tenant_id
