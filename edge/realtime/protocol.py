"""The widget protocol's payloads: validating what browsers send and shaping what the edge emits.

Everything here is pure (no I/O), so the rules of widget/PROTOCOL.md are testable without sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from avatarchat.ai.v1 import ai_pb2
from avatarchat.conversation.v1 import conversation_pb2

#: Longest visitor message, as SendMessageRequest.text allows.
MAX_TEXT_CHARS = 4000
#: Longest clientMessageId (SendMessageRequest.request_id).
MAX_CLIENT_MESSAGE_ID = 64
#: Longest id or URL accepted in the handshake.
MAX_AUTH_FIELD = 2048
INTERACTION_KINDS = frozenset({"click", "hover", "wave"})


class ProtocolError(Exception):
    """A widget payload that breaks the protocol; answered with an `error` event, never a crash."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def payload(self, request_id: str = "") -> dict[str, str]:
        """The body of the `error` event."""
        body = {"code": self.code, "message": self.message}
        if request_id:
            body["requestId"] = request_id
        return body


@dataclass(frozen=True)
class LastChunk:
    """The last chunk a reconnecting widget saw."""

    message_id: str
    index: int


@dataclass(frozen=True)
class Handshake:
    """The `auth` object of a connect, validated."""

    embed_id: str
    visitor_id: str
    visitor_signature: str
    conversation_id: str
    page_url: str
    last_chunk: LastChunk | None


@dataclass(frozen=True)
class SendRequest:
    """A `message:send` payload, validated."""

    text: str
    client_message_id: str


def _string(data: Mapping[str, Any], key: str, limit: int = MAX_AUTH_FIELD) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"{key} must be a string")
    if len(value) > limit:
        raise ProtocolError(f"{key} is longer than {limit} characters")
    return value


def _object(payload: object, what: str) -> Mapping[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ProtocolError(f"{what} must be a JSON object")
    return payload


def parse_handshake(auth: object, referer: str) -> Handshake:
    """The handshake's fields; `embedId` is required, the page URL defaults to the Referer header."""
    data = _object(auth, "auth")
    embed_id = _string(data, "embedId", 64)
    if not embed_id:
        raise ProtocolError("auth.embedId is required")
    last: LastChunk | None = None
    raw_last = data.get("lastChunk")
    if raw_last is not None:
        chunk = _object(raw_last, "auth.lastChunk")
        index = chunk.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < -1:
            raise ProtocolError("auth.lastChunk.index must be an integer ≥ -1")
        last = LastChunk(_string(chunk, "messageId"), index)
    return Handshake(
        embed_id=embed_id,
        visitor_id=_string(data, "visitorId", 128),
        visitor_signature=_string(data, "visitorSignature", 128),
        conversation_id=_string(data, "conversationId"),
        page_url=_string(data, "pageUrl") or referer[:MAX_AUTH_FIELD],
        last_chunk=last,
    )


def parse_send(payload: object) -> SendRequest:
    """A `message:send` payload: 1-4000 characters of text and an optional idempotency key."""
    data = _object(payload, "message:send payload")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(f"text is longer than {MAX_TEXT_CHARS} characters")
    return SendRequest(text, _string(data, "clientMessageId", MAX_CLIENT_MESSAGE_ID))


def parse_interaction(payload: object) -> str:
    """The kind of an `avatar:interaction`."""
    kind = _object(payload, "avatar:interaction payload").get("kind")
    if kind not in INTERACTION_KINDS:
        raise ProtocolError(f"kind must be one of {', '.join(sorted(INTERACTION_KINDS))}")
    return str(kind)


def as_json(message: Message) -> dict[str, Any]:
    """A proto message as the protocol's camelCase JSON object."""
    return json_format.MessageToDict(message)


def _ms(duration: Any) -> int:
    return int(duration.seconds * 1000 + duration.nanos // 1_000_000)


def _cues(cues: Iterable[ai_pb2.VisemeCue]) -> list[dict[str, Any]]:
    return [{"viseme": c.viseme, "startMs": _ms(c.start_offset), "durationMs": _ms(c.duration)} for c in cues]


@dataclass
class StreamTranslator:
    """Turns one SendMessage stream into protocol events, remembering what `changed` needs."""

    conversation: str
    message_id: str = ""
    last_behaviour: int = ai_pb2.BEHAVIOUR_UNSPECIFIED

    def translate(self, event: conversation_pb2.SendMessageResponse) -> tuple[str, dict[str, Any]] | None:
        """The (event, payload) to emit for one stream message; None for nothing to emit."""
        kind = event.WhichOneof("event")
        if kind == "started":
            self.message_id = event.started.assistant_message
            started = {"conversation": self.conversation, "messageId": self.message_id}
            return "stream:start", {**started, "requestId": event.started.request_id}
        if kind == "text_delta":
            delta = event.text_delta
            chunk = {"messageId": self.message_id, "index": delta.index, "text": delta.text}
            if delta.visemes:
                chunk["visemes"] = _cues(delta.visemes)
            return "stream:chunk", chunk
        if kind == "citation":
            c = event.citation
            citation = {"index": c.index, "title": c.title, "url": c.url, "snippet": c.snippet, "document": c.document}
            return "message:citation", {"messageId": self.message_id, "citation": citation}
        if kind == "animation_cue":
            cue = event.animation_cue
            changed = cue.behaviour != self.last_behaviour
            self.last_behaviour = cue.behaviour
            return "avatar:animation", {
                "behaviour": ai_pb2.Behaviour.Name(cue.behaviour),
                "clip": cue.clip,
                "intensity": round(cue.intensity, 4),
                "durationMs": _ms(cue.duration) if cue.HasField("duration") else 0,
                "changed": changed,
            }
        if kind == "viseme_cues":
            return "avatar:visemes", {"messageId": self.message_id, "cues": _cues(event.viseme_cues.cues)}
        if kind == "message":
            return "stream:end", {"messageId": self.message_id or event.message.name, "message": as_json(event.message)}
        if kind == "error":
            e = event.error
            return "error", {
                "code": e.reason or e.code or "INTERNAL",
                "message": e.message,
                "messageId": self.message_id,
            }
        return None
