"""Checks of chatbot requests: names, the chatbot's own fields, personality and update masks."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Collection

from google.protobuf import descriptor as _descriptor
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from services.runtime import errors, names
from services.runtime.validation import Checks

CHATBOT_PATTERN = "tenants/{tenant}/chatbots/{chatbot}"
AVATAR_PATTERN = "tenants/{tenant}/avatars/{avatar}"
KNOWLEDGE_BASE_PATTERN = "tenants/{tenant}/knowledgeBases/{knowledge_base}"

#: Provider ids of AiService.ListProviders; the AI service skips unconfigured ones at answer time.
KNOWN_PROVIDERS = frozenset({"offline", "openai", "anthropic", "gemini", "vertex"})
MAX_PROVIDERS = 5
MAX_KNOWLEDGE_BASES = 20
MAX_AVOIDED_TOPICS = 50
MAX_TOPIC_LENGTH = 100
MAX_INTENT_EXAMPLES = 200
MAX_ANSWER_TOKENS = 4096
MAX_TEMPERATURE = 2.0
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$")
LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")

#: Fields UpdateChatbot may change; the rest have their own methods.
CHATBOT_UPDATE_PATHS = ("display_name", "state", "knowledge_bases")
_OWN_METHOD = {"avatar": "AssignAvatar", "personality": "UpdatePersonality", "placement": "UpdatePlacement"}


def chatbot_ids(name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
    """The tenant and chatbot ids of `tenants/{tenant}/chatbots/{chatbot}`."""
    ids = names.parse(name, CHATBOT_PATTERN, field)
    return ids["tenant"], ids["chatbot"]


def avatar_of_tenant(value: str, tenant_id: uuid.UUID, field: str = "avatar") -> str:
    """A well-formed avatar name of `tenant_id`; another tenant's avatar is NOT_FOUND, as if it did not exist."""
    ids = names.parse(value, AVATAR_PATTERN, field)
    if ids["tenant"] != tenant_id:
        raise errors.NotFound(value)
    return value


def display_name(checks: Checks, field: str, value: str) -> str:
    """A chatbot's dashboard name, 1-100 characters."""
    return checks.text(field, value, max_len=100)


def state(checks: Checks, field: str, value: int) -> str:
    """The stored state of a wire ChatbotState; unset means active."""
    if value in (chatbot_pb2.CHATBOT_STATE_UNSPECIFIED, chatbot_pb2.CHATBOT_STATE_ACTIVE):
        return "active"
    if value == chatbot_pb2.CHATBOT_STATE_PAUSED:
        return "paused"
    checks.fail(field, f"unknown chatbot state {value}")
    return "active"


def knowledge_bases(checks: Checks, field: str, values: Collection[str], tenant_id: uuid.UUID) -> list[str]:
    """At most 20 distinct knowledge bases, each of the chatbot's own tenant."""
    if len(values) > MAX_KNOWLEDGE_BASES:
        checks.fail(field, f"at most {MAX_KNOWLEDGE_BASES} knowledge bases")
        return []
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            tenant = names.parse(value, KNOWLEDGE_BASE_PATTERN, f"{field}[{i}]")["tenant"]
        except errors.InvalidArgument as exc:
            checks.violations += exc.violations
            continue
        if tenant != tenant_id:
            checks.fail(f"{field}[{i}]", "must be a knowledge base of the chatbot's own tenant")
        elif value in out:
            checks.fail(f"{field}[{i}]", "listed twice")
        else:
            out.append(value)
    return out


def _enum(checks: Checks, field: str, value: int, enum: _descriptor.EnumDescriptor) -> None:
    if value not in enum.values_by_number:
        checks.fail(field, f"unknown {enum.name} value {value}")


def language(checks: Checks, field: str, value: str) -> str:
    """An optional BCP-47 tag such as `de` or `pt-BR`."""
    value = value.strip()
    if value and not LANGUAGE.match(value):
        checks.fail(field, "not a BCP-47 language tag such as 'en' or 'pt-BR'")
    return value


def _providers(checks: Checks, field: str, prefs: Collection[chatbot_pb2.ProviderPreference]) -> None:
    if len(prefs) > MAX_PROVIDERS:
        checks.fail(field, f"at most {MAX_PROVIDERS} providers")
        return
    seen: set[tuple[str, str]] = set()
    for i, pref in enumerate(prefs):
        at = f"{field}[{i}]"
        if pref.provider not in KNOWN_PROVIDERS:
            checks.fail(f"{at}.provider", f"unknown provider; known: {', '.join(sorted(KNOWN_PROVIDERS))}")
        if pref.model and not _MODEL.match(pref.model):
            checks.fail(f"{at}.model", "1-100 characters of letters, digits and . _ : / @ -")
        if not math.isfinite(pref.temperature) or not 0.0 <= pref.temperature <= MAX_TEMPERATURE:
            checks.fail(f"{at}.temperature", f"between 0 and {MAX_TEMPERATURE:g}")
        if (pref.provider, pref.model) in seen:
            checks.fail(at, "the same provider and model are listed twice")
        seen.add((pref.provider, pref.model))


def personality(checks: Checks, field: str, p: chatbot_pb2.Personality) -> chatbot_pb2.Personality:
    """The personality with texts trimmed; every wrong field recorded under `field`."""
    out = chatbot_pb2.Personality()
    out.CopyFrom(p)
    out.display_name = checks.text(f"{field}.display_name", p.display_name, required=False, max_len=100)
    out.instructions = checks.text(f"{field}.instructions", p.instructions, required=False, max_len=8000)
    _enum(checks, f"{field}.tone", p.tone, chatbot_pb2.Tone.DESCRIPTOR)
    out.tone_description = checks.text(f"{field}.tone_description", p.tone_description, required=False, max_len=500)
    if p.tone == chatbot_pb2.TONE_CUSTOM and not out.tone_description:
        checks.fail(f"{field}.tone_description", "required when tone is TONE_CUSTOM")
    out.language = language(checks, f"{field}.language", p.language)
    out.greeting = checks.text(f"{field}.greeting", p.greeting, required=False, max_len=500)
    out.fallback_answer = checks.text(f"{field}.fallback_answer", p.fallback_answer, required=False, max_len=1000)
    out.handoff_text = checks.text(f"{field}.handoff_text", p.handoff_text, required=False, max_len=1000)
    _providers(checks, f"{field}.providers", p.providers)
    if not 0 <= p.max_answer_tokens <= MAX_ANSWER_TOKENS:
        checks.fail(f"{field}.max_answer_tokens", f"between 0 (default 512) and {MAX_ANSWER_TOKENS}")
    if len(p.avoided_topics) > MAX_AVOIDED_TOPICS:
        checks.fail(f"{field}.avoided_topics", f"at most {MAX_AVOIDED_TOPICS} topics")
    else:
        del out.avoided_topics[:]
        for i, topic in enumerate(p.avoided_topics):
            out.avoided_topics.append(checks.text(f"{field}.avoided_topics[{i}]", topic, max_len=MAX_TOPIC_LENGTH))
    if len(p.intent_examples) > MAX_INTENT_EXAMPLES:
        checks.fail(f"{field}.intent_examples", f"at most {MAX_INTENT_EXAMPLES} examples")
    else:
        for i, example in enumerate(p.intent_examples):
            out.intent_examples[i].text = checks.text(f"{field}.intent_examples[{i}].text", example.text, max_len=500)
            if example.intent == ai_pb2.INTENT_UNSPECIFIED or example.intent not in ai_pb2.Intent.values():
                checks.fail(f"{field}.intent_examples[{i}].intent", "required: an Intent other than UNSPECIFIED")
    return out


def chatbot_update_paths(mask: field_mask_pb2.FieldMask) -> set[str]:
    """UpdateChatbot's paths (empty = all three); avatar, personality and placement point to their methods."""
    paths = set(mask.paths) or set(CHATBOT_UPDATE_PATHS)
    for path in sorted(paths - set(CHATBOT_UPDATE_PATHS)):
        root = path.split(".", 1)[0]
        if root in _OWN_METHOD:
            raise errors.InvalidArgument.field("update_mask", f"{path} changes only through {_OWN_METHOD[root]}")
        raise errors.InvalidArgument.field("update_mask", f"cannot update {path[:80]}")
    return paths


def check_mask(mask: field_mask_pb2.FieldMask, descriptor: _descriptor.Descriptor) -> None:
    """INVALID_ARGUMENT on update_mask when a path names no field of the message."""
    for path in mask.paths:
        if not field_mask_pb2.FieldMask(paths=[path]).IsValidForDescriptor(descriptor):
            raise errors.InvalidArgument.field("update_mask", f"unknown field {path[:80]} of {descriptor.name}")


def merge_masked(
    current: chatbot_pb2.Personality | chatbot_pb2.Placement,
    request: chatbot_pb2.Personality | chatbot_pb2.Placement,
    mask: field_mask_pb2.FieldMask,
) -> None:
    """Copies the masked fields of `request` onto `current` (empty mask: all of them)."""
    check_mask(mask, current.DESCRIPTOR)
    if not mask.paths:
        current.CopyFrom(request)  # type: ignore[arg-type]
        return
    # Named messages and lists are replaced whole, so `theme` with an empty colour clears that colour.
    mask.MergeMessage(request, current, replace_message_field=True, replace_repeated_field=True)
    _clear_under_unset_parents(current, request, mask)


def _clear_under_unset_parents(current: Message, request: Message, mask: field_mask_pb2.FieldMask) -> None:
    """Clears each masked sub-field whose parent message the request leaves unset.

    protobuf's MergeMessage skips such a path, so `business_hours.hide_outside_hours` sent without any
    `business_hours` kept the stored value; a masked field the request leaves empty is cleared (AIP-134).
    """
    for path in mask.paths:
        *parents, leaf = path.split(".")
        if not parents or _nested(request, parents) is not None:
            continue  # every parent is set: MergeMessage copied the field
        target = _nested(current, parents)
        if target is not None:  # otherwise nothing is stored under it to clear
            target.ClearField(leaf)


def _nested(message: Message, names: list[str]) -> Message | None:
    """The sub-message at the end of `names`, or None where one on the way is unset."""
    for name in names:
        if not message.HasField(name):
            return None
        message = getattr(message, name)
    return message
