"""Rows of the conversation store as conversation.v1 messages, and the names they go by."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from avatarchat.ai.v1 import ai_pb2
from avatarchat.conversation.v1 import conversation_pb2

STATES = {"active": conversation_pb2.CONVERSATION_STATE_ACTIVE, "ended": conversation_pb2.CONVERSATION_STATE_ENDED}


def conversation_name(tenant_id: uuid.UUID, chatbot_id: uuid.UUID, conversation_id: uuid.UUID) -> str:
    """`tenants/{tenant}/chatbots/{chatbot}/conversations/{conversation}`."""
    return f"tenants/{tenant_id}/chatbots/{chatbot_id}/conversations/{conversation_id}"


def timestamp(value: datetime) -> Timestamp:
    """A Timestamp of an aware datetime."""
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def conversation_message(row: asyncpg.Record) -> conversation_pb2.Conversation:
    """The Conversation of a row."""
    message = conversation_pb2.Conversation(
        name=conversation_name(row["tenant_id"], row["chatbot_id"], row["id"]),
        visitor_id=row["visitor_id"],
        visitor_verified=row["visitor_verified"],
        state=STATES[row["state"]],
        channel=row["channel"],
        page_url=row["page_url"],
        message_count=row["message_count"],
        metadata=row["metadata"],
        create_time=timestamp(row["create_time"]),
    )
    if row["last_message_time"] is not None:
        message.last_message_time.CopyFrom(timestamp(row["last_message_time"]))
    if row["end_time"] is not None:
        message.end_time.CopyFrom(timestamp(row["end_time"]))
    return message


def proto_json(message: Message) -> dict[str, Any]:
    """A citation or sentiment as stored (proto field names)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def message_message(conversation: str, row: asyncpg.Record, *, for_visitor: bool) -> conversation_pb2.Message:
    """The Message of a row; provider, model, token and cost fields are left out for visitors."""
    message = conversation_pb2.Message(
        name=f"{conversation}/messages/{row['id']}",
        role=row["role"],
        text=row["text"],
        state=row["state"],
        citations=[json_format.ParseDict(c, ai_pb2.Citation()) for c in row["citations"]],
        cached=row["cached"],
        intent=row["intent"],
        intent_confidence=row["intent_confidence"],
        finish_reason=row["finish_reason"],
        request_id=row["request_id"],
        create_time=timestamp(row["create_time"]),
    )
    if row["sentiment"] is not None:
        message.sentiment.CopyFrom(json_format.ParseDict(row["sentiment"], ai_pb2.Sentiment()))
    if row["first_token_ms"] is not None:
        message.first_token_latency.FromNanoseconds(int(row["first_token_ms"] * 1_000_000))
    if not for_visitor:
        message.provider = row["provider"]
        message.model = row["model"]
        message.input_tokens = row["input_tokens"]
        message.output_tokens = row["output_tokens"]
        message.cost_micros = row["cost_micros"]
        message.currency_code = row["currency_code"]
    return message
