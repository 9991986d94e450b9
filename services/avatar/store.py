"""SQL of the avatar service: avatars, the object references that decide when bytes may go, and events."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.runtime import outbox
from services.runtime.db import Connection, Database

SCHEMA = "avatar"
EXCHANGE = "avatar.events"
_COLUMNS = (
    "id, tenant_id, display_name, filename, state, content_sha256, original_size_bytes, optimized_sha256,"
    " optimized_size_bytes, report, clips, morph_targets, animation_map, optimization, preview_state,"
    " preview_width, preview_height, preview_failure, preview_render_time, create_time, update_time"
)
#: Columns a change may set (names are checked against this before they reach SQL).
UPDATABLE = frozenset(
    {
        "display_name", "state", "optimized_sha256", "optimized_size_bytes", "report", "clips", "morph_targets",
        "animation_map", "optimization", "preview_state", "preview_width", "preview_height", "preview_failure",
        "preview_render_time",
    }
)  # fmt: skip


@dataclass(frozen=True)
class AvatarRow:
    """An avatar as stored."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    display_name: str
    filename: str
    state: str
    content_sha256: str
    original_size_bytes: int
    optimized_sha256: str
    optimized_size_bytes: int
    report: dict[str, Any] | None
    clips: list[dict[str, Any]]
    morph_targets: list[dict[str, Any]]
    animation_map: dict[str, Any]
    optimization: dict[str, Any] | None
    preview_state: str
    preview_width: int
    preview_height: int
    preview_failure: str
    preview_render_time: datetime | None
    create_time: datetime
    update_time: datetime


@dataclass
class NewAvatar:
    """What an upload stores."""

    display_name: str
    filename: str
    state: str
    content_sha256: str
    original_size_bytes: int
    report: dict[str, Any]
    clips: list[dict[str, Any]] = field(default_factory=list)
    morph_targets: list[dict[str, Any]] = field(default_factory=list)
    animation_map: dict[str, Any] = field(default_factory=dict)
    preview_state: str = "pending"
    preview_failure: str = ""


def _row(record: asyncpg.Record) -> AvatarRow:
    return AvatarRow(**{k: record[k] for k in AvatarRow.__dataclass_fields__})


class AvatarStore:
    """Avatar rows per tenant (row-level security scoped) and the platform-wide object references."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def _lock_object(conn: Connection, key: str) -> None:
        # Serialises "add a reference" against "last reference gone, delete the bytes" for one object.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)

    async def create(
        self,
        tenant_id: uuid.UUID,
        new: NewAvatar,
        object_key: str,
        ensure_object: Callable[[], Awaitable[object]],
        event: dict[str, Any],
    ) -> AvatarRow | None:
        """Inserts an avatar, its object reference and its `avatar.uploaded` event; None when the bytes exist.

        `ensure_object` stores the bytes while the object's lock is held, so a concurrent delete of the
        last other reference cannot remove them between the write and the new reference.
        """
        avatar_id = uuid.uuid4()
        async with self._db.tenant_tx(tenant_id) as conn:
            await self._lock_object(conn, object_key)
            record = await conn.fetchrow(
                f"""INSERT INTO avatar.avatars (id, tenant_id, display_name, filename, state, content_sha256,
                      original_size_bytes, report, clips, morph_targets, animation_map, preview_state, preview_failure)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    ON CONFLICT (tenant_id, content_sha256) DO NOTHING RETURNING {_COLUMNS}""",
                avatar_id,
                tenant_id,
                new.display_name,
                new.filename,
                new.state,
                new.content_sha256,
                new.original_size_bytes,
                new.report,
                new.clips,
                new.morph_targets,
                new.animation_map,
                new.preview_state,
                new.preview_failure,
            )
            if record is None:
                return None
            await self._add_ref(conn, object_key, avatar_id, tenant_id)
            await ensure_object()
            await outbox.add(
                conn,
                SCHEMA,
                exchange=EXCHANGE,
                routing_key="avatar.uploaded",
                payload={**event, "tenant_id": str(tenant_id), "avatar_id": str(avatar_id)},
                tenant_id=tenant_id,
            )
        return _row(record)

    @staticmethod
    async def _add_ref(conn: Connection, key: str, avatar_id: uuid.UUID, tenant_id: uuid.UUID | None) -> None:
        await conn.execute(
            "INSERT INTO avatar.object_refs (object_key, avatar_id, tenant_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            key,
            avatar_id,
            tenant_id,
        )

    async def add_ref(
        self,
        tenant_id: uuid.UUID | None,
        key: str,
        avatar_id: uuid.UUID,
        ensure_object: Callable[[], Awaitable[object]],
    ) -> None:
        """Stores an object (via `ensure_object`) and records that `avatar_id` uses it, under the object's lock.

        Tenant None marks a platform object (the default avatar), which is never deleted.
        """
        scope = self._db.platform_tx() if tenant_id is None else self._db.tenant_tx(tenant_id)
        async with scope as conn:
            await self._lock_object(conn, key)
            await self._add_ref(conn, key, avatar_id, tenant_id)
            await ensure_object()

    async def by_content(self, tenant_id: uuid.UUID, content_sha256: str) -> AvatarRow | None:
        """The tenant's avatar with these bytes, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM avatar.avatars WHERE tenant_id = $1 AND content_sha256 = $2",
                tenant_id,
                content_sha256,
            )
        return _row(record) if record else None

    async def get(self, tenant_id: uuid.UUID, avatar_id: uuid.UUID) -> AvatarRow | None:
        """One avatar of the tenant, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM avatar.avatars WHERE id = $1", avatar_id)
        return _row(record) if record else None

    async def page(
        self, tenant_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[AvatarRow]:
        """The tenant's avatars newest first, after a keyset cursor."""
        async with self._db.tenant_tx(tenant_id) as conn:
            if before is None:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM avatar.avatars WHERE tenant_id = $1
                        ORDER BY create_time DESC, id DESC LIMIT $2""",
                    tenant_id,
                    limit,
                )
            else:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM avatar.avatars WHERE tenant_id = $1 AND (create_time, id) < ($2, $3)
                        ORDER BY create_time DESC, id DESC LIMIT $4""",
                    tenant_id,
                    before[0],
                    before[1],
                    limit,
                )
        return [_row(r) for r in records]

    async def modify(
        self,
        tenant_id: uuid.UUID,
        avatar_id: uuid.UUID,
        change: Callable[[AvatarRow], dict[str, Any]],
        *,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> AvatarRow | None:
        """Applies `change(current row)` under a row lock, with an optional outbox event; None when missing."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM avatar.avatars WHERE id = $1 FOR UPDATE", avatar_id)
            if record is None:
                return None
            changes = change(_row(record))
            if not changes:
                return _row(record)
            if not changes.keys() <= UPDATABLE:
                raise ValueError(f"cannot update {sorted(changes.keys() - UPDATABLE)}")
            sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
            updated = await conn.fetchrow(
                f"UPDATE avatar.avatars SET {sets}, update_time = now() WHERE id = $1 RETURNING {_COLUMNS}",
                avatar_id,
                *changes.values(),
            )
            if event is not None:
                routing_key, payload = event
                await outbox.add(
                    conn,
                    SCHEMA,
                    exchange=EXCHANGE,
                    routing_key=routing_key,
                    payload={**payload, "tenant_id": str(tenant_id), "avatar_id": str(avatar_id)},
                    tenant_id=tenant_id,
                )
        assert updated is not None
        return _row(updated)

    async def delete(self, tenant_id: uuid.UUID, avatar_id: uuid.UUID) -> tuple[AvatarRow, list[str]] | None:
        """Deletes an avatar and its references; returns it and the object keys it referenced, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(f"DELETE FROM avatar.avatars WHERE id = $1 RETURNING {_COLUMNS}", avatar_id)
            if record is None:
                return None
            keys = await conn.fetch(
                "DELETE FROM avatar.object_refs WHERE avatar_id = $1 RETURNING object_key", avatar_id
            )
            await outbox.add(
                conn,
                SCHEMA,
                exchange=EXCHANGE,
                routing_key="avatar.deleted",
                payload={"tenant_id": str(tenant_id), "avatar_id": str(avatar_id)},
                tenant_id=tenant_id,
            )
        return _row(record), [k["object_key"] for k in keys]

    async def release_if_unused(self, key: str, delete: Callable[[str], Awaitable[None]]) -> bool:
        """Calls `await delete(key)` when no avatar of any tenant references `key` any more; True if it did."""
        async with self._db.platform_tx() as conn:
            await self._lock_object(conn, key)
            used = await conn.fetchval("SELECT 1 FROM avatar.object_refs WHERE object_key = $1 LIMIT 1", key)
            if used:
                return False
            await delete(key)
        return True
