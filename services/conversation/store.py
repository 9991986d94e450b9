"""SQL of the conversation service: conversations, messages and their outbox events, one tenant per transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.runtime import outbox
from services.runtime.db import Connection, Database

SCHEMA = "conversation"
EXCHANGE = "conversation.events"
_CONVERSATION_COLUMNS = (
    "id, tenant_id, chatbot_id, visitor_id, visitor_verified, state, channel, page_url, metadata, message_count,"
    " create_time, last_message_time, end_time"
)

#: A conversation with its last $4 messages' role and text, oldest first, as a JSON array of pairs, and whether
#: a message already holds the request id $5 (never for an empty one).
_WITH_RECENT = (
    f"SELECT {_CONVERSATION_COLUMNS}, (SELECT coalesce(jsonb_agg(jsonb_build_array(role, text) ORDER BY position),"
    " '[]') FROM (SELECT role, text, position FROM conversation.messages"
    " WHERE tenant_id = $1 AND conversation_id = $3 ORDER BY position DESC LIMIT $4) newest) AS recent,"
    " $5 <> '' AND EXISTS (SELECT 1 FROM conversation.messages WHERE tenant_id = $1 AND conversation_id = $3"
    " AND request_id = $5 AND request_id <> '') AS request_seen"
    " FROM conversation.conversations c WHERE tenant_id = $1 AND chatbot_id = $2 AND id = $3"
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of a conversation as the answer's history sees it."""

    role: int
    text: str


@dataclass(frozen=True, slots=True)
class NewConversation:
    """A conversation to create."""

    chatbot_id: uuid.UUID
    visitor_id: str
    visitor_verified: bool
    channel: int
    page_url: str
    metadata: dict[str, str]


@dataclass(slots=True)
class NewMessage:
    """A message to append; assistant answers carry usage, visitor messages sentiment and intent."""

    id: uuid.UUID
    role: int
    state: int
    text: str
    request_id: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    currency_code: str = ""
    cached: bool = False
    first_token_ms: float | None = None
    finish_reason: int = 0
    sentiment: dict[str, Any] | None = None
    """An answer's own sentiment (a visitor message's comes later, with its QuestionAnalysis)."""


@dataclass(frozen=True, slots=True)
class QuestionAnalysis:
    """Sentiment and intent of a stored visitor message."""

    message_id: uuid.UUID
    sentiment: dict[str, Any]
    intent: int
    confidence: float


class ConversationStore:
    """Reads and writes conversation.* as the service role; RLS backs every tenant filter."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.events_recorded: Callable[[], None] = _nothing
        """Called after a message's event committed without NOTIFY: the service sets its outbox relay's `wake`."""

    async def create(self, tenant_id: uuid.UUID, new: NewConversation) -> asyncpg.Record:
        """Inserts an active conversation."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                "INSERT INTO conversation.conversations (id, tenant_id, chatbot_id, visitor_id, visitor_verified,"
                " state, channel, page_url, metadata) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8)"
                f" RETURNING {_CONVERSATION_COLUMNS}",
                uuid.uuid4(),
                tenant_id,
                new.chatbot_id,
                new.visitor_id,
                new.visitor_verified,
                new.channel,
                new.page_url,
                new.metadata,
            )
        assert row is not None
        return row

    async def get(
        self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> asyncpg.Record | None:
        """One conversation of the chatbot."""
        async with self._db.tenant_tx(tenant_id) as conn:
            return await conn.fetchrow(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversation.conversations"
                " WHERE tenant_id = $1 AND chatbot_id = $2 AND id = $3",
                tenant_id,
                chatbot_id,
                conversation_id,
            )

    async def end(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, payload: dict[str, Any]
    ) -> asyncpg.Record | None:
        """Ends an active conversation with its event; an ended one is returned unchanged."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                "UPDATE conversation.conversations SET state = 'ended', end_time = now()"
                f" WHERE tenant_id = $1 AND id = $2 AND state = 'active' RETURNING {_CONVERSATION_COLUMNS}",
                tenant_id,
                conversation_id,
            )
            if row is not None:
                await outbox.add(
                    conn,
                    SCHEMA,
                    exchange=EXCHANGE,
                    routing_key="conversation.ended",
                    payload=payload,
                    tenant_id=tenant_id,
                )
                return row
            return await conn.fetchrow(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversation.conversations WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                conversation_id,
            )

    async def visitor_page(
        self,
        tenant_id: uuid.UUID,
        chatbot_id: uuid.UUID,
        visitor_id: str,
        *,
        state: str | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None,
    ) -> list[asyncpg.Record]:
        """A visitor's conversations with a chatbot, newest first, after the cursor."""
        async with self._db.tenant_tx(tenant_id) as conn:
            return await conn.fetch(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversation.conversations"
                " WHERE tenant_id = $1 AND chatbot_id = $2 AND visitor_id = $3 AND ($4::text IS NULL OR state = $4)"
                " AND ($5::timestamptz IS NULL OR (create_time, id) < ($5, $6))"
                " ORDER BY create_time DESC, id DESC LIMIT $7",
                tenant_id,
                chatbot_id,
                visitor_id,
                state,
                before[0] if before else None,
                before[1] if before else None,
                limit,
            )

    async def append(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message: NewMessage,
        event: dict[str, Any],
        *,
        analysis: QuestionAnalysis | None = None,
        only_active: bool = False,
    ) -> asyncpg.Record | None:
        """Appends a message and its message.created event, and the analysis of the question it answers, if given.

        None when the conversation is gone (or, with `only_active`, has ended); DuplicateRequest when the request
        id is already taken. The row's `position` is the conversation's message count with it.
        """
        event_id = uuid.uuid4()
        payload = outbox.payload_of({**event, "message_id": str(message.id), "state": message.state}, event_id)
        async with self._db.tenant_statement(tenant_id) as conn:
            # One statement, its own transaction, as every message pays for it twice: the count, the row, the
            # question's analysis and the event. Nothing counted: the request id is taken, or the conversation is
            # gone (or ended); counted without an id: a concurrent call took the request id.
            row = await conn.fetchrow(
                _APPEND,
                tenant_id,
                conversation_id,
                message.id,
                message.role,
                message.state,
                message.text,
                message.citations,
                message.provider,
                message.model,
                message.input_tokens,
                message.output_tokens,
                message.cost_micros,
                message.currency_code,
                message.cached,
                message.first_token_ms,
                message.finish_reason,
                message.request_id,
                # Without an analysis the question's id is NULL, which the update matches nowhere.
                *_analysis_args(analysis),
                event_id,
                EXCHANGE,
                payload,
                only_active,
                message.sentiment,
            )
        assert row is not None  # `taken` always has its one row
        if row["woken"]:
            self.events_recorded()
        if row["request_taken"]:
            raise DuplicateRequest
        if row["counted"] is None:
            return None
        if row["id"] is None:
            raise DuplicateRequest
        return row

    async def set_analysis(self, tenant_id: uuid.UUID, analysis: QuestionAnalysis) -> None:
        """Stores the sentiment and intent of a visitor message once they are known."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await _set_analysis(conn, tenant_id, analysis)

    async def messages(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, after_position: int, limit: int
    ) -> list[asyncpg.Record]:
        """Messages after a position, oldest first."""
        async with self._db.tenant_tx(tenant_id) as conn:
            return await conn.fetch(
                "SELECT * FROM conversation.messages WHERE tenant_id = $1 AND conversation_id = $2 AND position > $3"
                " ORDER BY position LIMIT $4",
                tenant_id,
                conversation_id,
                after_position,
                limit,
            )

    async def with_recent(
        self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, conversation_id: uuid.UUID, limit: int, request_id: str = ""
    ) -> tuple[asyncpg.Record | None, list[Turn]]:
        """A conversation and its last `limit` messages as turns (oldest first) in one statement: SendMessage's read.

        Its `request_seen` tells whether a message already holds `request_id`, so a first call (nearly every call)
        needs no second read to rule out a replay.
        """
        async with self._db.tenant_statement(tenant_id) as conn:
            row = await conn.fetchrow(_WITH_RECENT, tenant_id, chatbot_id, conversation_id, limit, request_id)
        if row is None:
            return None, []
        return row, [Turn(role, text) for role, text in row["recent"]]

    async def history_before(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, position: int, limit: int
    ) -> list[Turn]:
        """The last `limit` messages before `position` as turns, oldest first: a question's history once stored."""
        async with self._db.tenant_statement(tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT role, text FROM (SELECT role, text, position FROM conversation.messages"
                " WHERE tenant_id = $1 AND conversation_id = $2 AND position < $3 ORDER BY position DESC LIMIT $4)"
                " newest ORDER BY position",
                tenant_id,
                conversation_id,
                position,
                limit,
            )
        return [Turn(r["role"], r["text"]) for r in rows]

    async def by_request(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, request_id: str
    ) -> list[asyncpg.Record]:
        """The messages stored under a request id (the visitor's, then the answer once stored)."""
        async with self._db.tenant_tx(tenant_id) as conn:
            return await conn.fetch(
                "SELECT * FROM conversation.messages WHERE tenant_id = $1 AND conversation_id = $2 AND request_id = $3"
                " ORDER BY position",
                tenant_id,
                conversation_id,
                request_id,
            )


class DuplicateRequest(Exception):
    """The request id is already taken, by an earlier call or a concurrent one."""


_APPEND = (
    # A request id already stored leaves the count alone. Two calls with one request id at the same instant both
    # count (neither sees the other's row); the second then finds the unique index taken and stores nothing.
    "WITH taken AS (SELECT $17 <> '' AND EXISTS (SELECT 1 FROM conversation.messages"
    " WHERE tenant_id = $1 AND conversation_id = $2 AND request_id = $17 AND role = $4) AS taken),"
    " counted AS ("
    " UPDATE conversation.conversations SET message_count = message_count + 1, last_message_time = now()"
    " WHERE tenant_id = $1 AND id = $2 AND (NOT $25 OR state = 'active') AND NOT (SELECT taken FROM taken)"
    " RETURNING message_count),"
    " added AS ("
    " INSERT INTO conversation.messages (id, tenant_id, conversation_id, position, role, state, text, citations,"
    " provider, model, input_tokens, output_tokens, cost_micros, currency_code, cached, first_token_ms,"
    " finish_reason, request_id, sentiment) SELECT $3, $1, $2, message_count, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
    " $13, $14, $15, $16, $17, $26 FROM counted ON CONFLICT DO NOTHING RETURNING *),"
    " analysed AS ("
    " UPDATE conversation.messages SET sentiment = $19, intent = $20, intent_confidence = $21"
    " WHERE tenant_id = $1 AND id = $18 AND EXISTS (SELECT 1 FROM added) RETURNING id), "
    + outbox.event_ctes(
        SCHEMA,
        when="added",
        event_id="$22",
        tenant_id="$1",
        exchange="$23",
        routing_key="'message.created'",
        payload="$24::jsonb",
        # Twice per answer: see event_ctes on what NOTIFY costs every other commit; ConversationStore.events_recorded
        # wakes the relay instead.
        notify=False,
    )
    + " SELECT added.*, taken.taken AS request_taken, counted.message_count AS counted,"
    " (SELECT count(*) FROM wake) AS woken, (SELECT count(*) FROM analysed) AS analysed"
    " FROM taken LEFT JOIN counted ON true LEFT JOIN added ON true"
)


def _nothing() -> None:
    """No relay to wake (a store without the service around it, as in tests)."""


def _analysis_args(analysis: QuestionAnalysis | None) -> tuple[Any, ...]:
    """The question's id, sentiment, intent and confidence as query arguments; all NULL without an analysis."""
    if analysis is None:
        return (None, None, None, None)
    return (analysis.message_id, analysis.sentiment, analysis.intent, analysis.confidence)


async def _set_analysis(conn: Connection, tenant_id: uuid.UUID, analysis: QuestionAnalysis) -> None:
    await conn.execute(
        "UPDATE conversation.messages SET sentiment = $3, intent = $4, intent_confidence = $5"
        " WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        *_analysis_args(analysis),
    )
