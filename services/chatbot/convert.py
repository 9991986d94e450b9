"""Conversions between the chatbot store's rows and the wire messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from avatarchat.chatbot.v1 import chatbot_pb2
from services.chatbot.store import ChatbotRow
from services.runtime.names import tenant_name

STATES = {"active": chatbot_pb2.CHATBOT_STATE_ACTIVE, "paused": chatbot_pb2.CHATBOT_STATE_PAUSED}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp from a datetime."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def chatbot_name(row: ChatbotRow) -> str:
    """`tenants/{tenant}/chatbots/{chatbot}`."""
    return f"{tenant_name(row.tenant_id)}/chatbots/{row.id}"


def to_json(message: chatbot_pb2.Personality | chatbot_pb2.Placement) -> dict[str, Any]:
    """How personality and placement are stored: proto JSON with the proto's field names."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def personality_of(row: ChatbotRow) -> chatbot_pb2.Personality:
    """The stored personality (fields a newer contract dropped are ignored)."""
    return json_format.ParseDict(row.personality, chatbot_pb2.Personality(), ignore_unknown_fields=True)


def placement_of(row: ChatbotRow) -> chatbot_pb2.Placement:
    """The stored placement."""
    return json_format.ParseDict(row.placement, chatbot_pb2.Placement(), ignore_unknown_fields=True)


def chatbot_message(row: ChatbotRow) -> chatbot_pb2.Chatbot:
    """The wire form of a chatbot; the visitor secret never leaves the service through it."""
    message = chatbot_pb2.Chatbot(
        name=chatbot_name(row),
        display_name=row.display_name,
        state=STATES[row.state],
        embed_id=row.embed_id,
        avatar=row.avatar,
        knowledge_bases=row.knowledge_bases,
        personality=personality_of(row),
        placement=placement_of(row),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )
    if row.visitor_secret_rotate_time is not None:
        message.visitor_secret_rotate_time.CopyFrom(timestamp(row.visitor_secret_rotate_time))
    return message
