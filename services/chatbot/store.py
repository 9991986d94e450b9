"""SQL of the chatbot service: chatbots, their visitor secrets and the embed-id directory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.runtime.db import Connection, Database

_COLUMNS = (
    "id, tenant_id, display_name, state, embed_id, avatar, knowledge_bases, personality, placement,"
    " visitor_secret_rotate_time, create_time, update_time"
)
#: Columns a change may set; the visitor secret and embed id have their own methods.
UPDATABLE = frozenset({"display_name", "state", "avatar", "knowledge_bases", "personality", "placement"})


@dataclass(frozen=True)
class ChatbotRow:
    """A chatbot as stored, without its visitor secret (read only where a signature is checked)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    display_name: str
    state: str
    embed_id: str
    avatar: str
    knowledge_bases: list[str]
    personality: dict[str, Any]
    placement: dict[str, Any]
    visitor_secret_rotate_time: datetime | None
    create_time: datetime
    update_time: datetime


@dataclass
class NewChatbot:
    """What CreateChatbot stores."""

    display_name: str
    state: str = "active"
    avatar: str = ""
    knowledge_bases: list[str] = field(default_factory=list)
    personality: dict[str, Any] = field(default_factory=dict)
    placement: dict[str, Any] = field(default_factory=dict)


def _row(record: asyncpg.Record) -> ChatbotRow:
    values = {k: record[k] for k in ChatbotRow.__dataclass_fields__}
    values["knowledge_bases"] = list(values["knowledge_bases"])
    return ChatbotRow(**values)


class ChatbotStore:
    """Chatbot rows per tenant (row-level security scoped) and the platform-wide embed-id directory."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _link(self, embed_id: str, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> None:
        async with self._db.platform_tx() as conn:
            await conn.execute(
                "INSERT INTO chatbot.embed_ids (embed_id, tenant_id, chatbot_id) VALUES ($1, $2, $3)",
                embed_id,
                tenant_id,
                chatbot_id,
            )

    async def _unlink(self, embed_ids: list[str]) -> None:
        async with self._db.platform_tx() as conn:
            await conn.execute("DELETE FROM chatbot.embed_ids WHERE embed_id = ANY($1::text[])", embed_ids)

    async def create(self, tenant_id: uuid.UUID, new: NewChatbot, embed_id: str) -> ChatbotRow:
        """Inserts a chatbot; its embed id is registered first so a half-done create never hides a bot."""
        chatbot_id = uuid.uuid4()
        await self._link(embed_id, tenant_id, chatbot_id)
        try:
            async with self._db.tenant_tx(tenant_id) as conn:
                record = await conn.fetchrow(
                    f"""INSERT INTO chatbot.chatbots (id, tenant_id, display_name, state, embed_id, avatar,
                          knowledge_bases, personality, placement)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_COLUMNS}""",
                    chatbot_id,
                    tenant_id,
                    new.display_name,
                    new.state,
                    embed_id,
                    new.avatar,
                    new.knowledge_bases,
                    new.personality,
                    new.placement,
                )
        except BaseException:
            await self._unlink([embed_id])
            raise
        assert record is not None
        return _row(record)

    async def get(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> ChatbotRow | None:
        """One chatbot of the tenant, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM chatbot.chatbots WHERE id = $1", chatbot_id)
        return _row(record) if record else None

    async def page(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[ChatbotRow]:
        """The tenant's chatbots oldest first, after a keyset cursor."""
        async with self._db.tenant_tx(tenant_id) as conn:
            if after is None:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM chatbot.chatbots WHERE tenant_id = $1
                        ORDER BY create_time, id LIMIT $2""",
                    tenant_id,
                    limit,
                )
            else:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM chatbot.chatbots WHERE tenant_id = $1 AND (create_time, id) > ($2, $3)
                        ORDER BY create_time, id LIMIT $4""",
                    tenant_id,
                    after[0],
                    after[1],
                    limit,
                )
        return [_row(r) for r in records]

    async def modify(
        self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, change: Callable[[ChatbotRow], dict[str, Any]]
    ) -> ChatbotRow | None:
        """Applies `change(current row)` under a row lock, so concurrent partial updates never lose each other."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM chatbot.chatbots WHERE id = $1 FOR UPDATE", chatbot_id
            )
            if record is None:
                return None
            changes = change(_row(record))
            if not changes:
                return _row(record)
            return await self._update(conn, chatbot_id, changes)

    @staticmethod
    async def _update(conn: Connection, chatbot_id: uuid.UUID, changes: dict[str, Any]) -> ChatbotRow:
        if not changes.keys() <= UPDATABLE:
            raise ValueError(f"cannot update {sorted(changes.keys() - UPDATABLE)}")
        # Column names come from UPDATABLE (checked above); values are always parameters.
        sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
        record = await conn.fetchrow(
            f"UPDATE chatbot.chatbots SET {sets}, update_time = now() WHERE id = $1 RETURNING {_COLUMNS}",
            chatbot_id,
            *changes.values(),
        )
        assert record is not None
        return _row(record)

    async def delete(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> bool:
        """Deletes a chatbot and its embed ids; False when it did not exist."""
        async with self._db.tenant_tx(tenant_id) as conn:
            embed_id = await conn.fetchval("DELETE FROM chatbot.chatbots WHERE id = $1 RETURNING embed_id", chatbot_id)
        if embed_id is None:
            return False
        async with self._db.platform_tx() as conn:
            await conn.execute(
                "DELETE FROM chatbot.embed_ids WHERE chatbot_id = $1 AND tenant_id = $2", chatbot_id, tenant_id
            )
        return True

    async def rotate_embed_id(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, embed_id: str) -> ChatbotRow | None:
        """Gives the chatbot `embed_id`; the old id stops resolving when this commits. None when missing."""
        await self._link(embed_id, tenant_id, chatbot_id)
        try:
            async with self._db.tenant_tx(tenant_id) as conn:
                old = await conn.fetchval("SELECT embed_id FROM chatbot.chatbots WHERE id = $1 FOR UPDATE", chatbot_id)
                record = await conn.fetchrow(
                    f"""UPDATE chatbot.chatbots SET embed_id = $2, update_time = now()
                        WHERE id = $1 RETURNING {_COLUMNS}""",
                    chatbot_id,
                    embed_id,
                )
        except BaseException:
            await self._unlink([embed_id])
            raise
        # The old directory row is only an index; lookups already fail since the chatbot row moved on.
        await self._unlink([embed_id] if record is None else [old])
        return _row(record) if record else None

    async def set_visitor_secret(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, sealed: bytes) -> ChatbotRow | None:
        """Stores a sealed visitor secret and its rotation time; None when the chatbot is missing."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                f"""UPDATE chatbot.chatbots SET visitor_secret = $2, visitor_secret_rotate_time = now(),
                      update_time = now() WHERE id = $1 RETURNING {_COLUMNS}""",
                chatbot_id,
                sealed,
            )
        return _row(record) if record else None

    async def visitor_secret(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> bytes | None:
        """The sealed visitor secret, or None while the chatbot has none."""
        async with self._db.tenant_tx(tenant_id) as conn:
            sealed: bytes | None = await conn.fetchval(
                "SELECT visitor_secret FROM chatbot.chatbots WHERE id = $1", chatbot_id
            )
        return sealed

    async def by_embed_id(self, embed_id: str) -> ChatbotRow | None:
        """The chatbot that currently has `embed_id` (directory first, then the tenant's own rows)."""
        async with self._db.platform_tx() as conn:
            link = await conn.fetchrow(
                "SELECT tenant_id, chatbot_id FROM chatbot.embed_ids WHERE embed_id = $1", embed_id
            )
        if link is None:
            return None
        async with self._db.tenant_tx(link["tenant_id"]) as conn:
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM chatbot.chatbots WHERE id = $1 AND embed_id = $2",
                link["chatbot_id"],
                embed_id,
            )
        return _row(record) if record else None
