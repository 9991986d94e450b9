"""SQL of knowledge bases and documents (chunks and search live in chunk_store.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.runtime import outbox
from services.runtime.db import Connection, Database

_KB_COLUMNS = (
    "k.id, k.tenant_id, k.display_name, k.description, k.embedding_model, k.chunk_size, k.chunk_overlap,"
    " k.knowledge_version, k.create_time, k.update_time, k.content_update_time,"
    " (SELECT count(*) FROM knowledge.documents d WHERE d.knowledge_base_id = k.id) AS document_count"
)
_DOC_COLUMNS = (
    "id, tenant_id, knowledge_base_id, title, source_kind, filename, declared_mime, url, url_mode, max_pages,"
    " mime_type, state, failure_reason, progress_percent, chunk_count, token_count, size_bytes, content_sha256,"
    " attempt_count, page_count, create_time, update_time"
)


@dataclass(frozen=True)
class KnowledgeBaseRow:
    """A knowledge base as stored, with its document count."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    display_name: str
    description: str
    embedding_model: str
    chunk_size: int
    chunk_overlap: int
    knowledge_version: int
    create_time: datetime
    update_time: datetime
    content_update_time: datetime | None
    document_count: int


@dataclass(frozen=True)
class DocumentRow:
    """A document as stored, without its content bytes."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    title: str
    source_kind: str
    filename: str
    declared_mime: str
    url: str
    url_mode: str
    max_pages: int
    mime_type: str
    state: str
    failure_reason: str
    progress_percent: int
    chunk_count: int
    token_count: int
    size_bytes: int
    content_sha256: str
    attempt_count: int
    page_count: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class NewDocument:
    """What AddDocument stores."""

    title: str
    source_kind: str
    filename: str = ""
    declared_mime: str = ""
    content: bytes | None = None
    url: str = ""
    url_mode: str = ""
    max_pages: int = 0
    content_sha256: str = ""
    charged_bytes: int = 0
    """Bytes of the plan's storage limit already reserved for this document (an upload's content)."""


@dataclass(frozen=True)
class Deleted:
    """What a delete removed: documents, and the storage bytes they held against the plan."""

    documents: int
    charged_bytes: int


@dataclass(frozen=True)
class IngestEvent:
    """Where the event that starts an ingestion job goes."""

    exchange: str
    routing_key: str = "document.added"


def _kb(record: asyncpg.Record) -> KnowledgeBaseRow:
    return KnowledgeBaseRow(**{k: record[k] for k in KnowledgeBaseRow.__dataclass_fields__})


def _doc(record: asyncpg.Record) -> DocumentRow:
    return DocumentRow(**{k: record[k] for k in DocumentRow.__dataclass_fields__})


class KnowledgeStore:
    """Knowledge bases and documents per tenant (row-level security scoped)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_kb(self, tenant_id: uuid.UUID, values: dict[str, Any]) -> KnowledgeBaseRow | None:
        """Inserts a knowledge base; None when the display name is taken."""
        async with self._db.tenant_tx(tenant_id) as conn:
            kb_id = await conn.fetchval(
                """INSERT INTO knowledge.knowledge_bases
                     (id, tenant_id, display_name, description, embedding_model, chunk_size, chunk_overlap)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id""",
                uuid.uuid4(),
                tenant_id,
                values["display_name"],
                values["description"],
                values["embedding_model"],
                values["chunk_size"],
                values["chunk_overlap"],
            )
            if kb_id is None:
                return None
            record = await conn.fetchrow(f"SELECT {_KB_COLUMNS} FROM knowledge.knowledge_bases k WHERE id = $1", kb_id)
        assert record is not None
        return _kb(record)

    async def get_kb(self, tenant_id: uuid.UUID, kb_id: uuid.UUID) -> KnowledgeBaseRow | None:
        """One knowledge base of the tenant, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(f"SELECT {_KB_COLUMNS} FROM knowledge.knowledge_bases k WHERE id = $1", kb_id)
        return _kb(record) if record else None

    async def kbs(self, tenant_id: uuid.UUID, kb_ids: list[uuid.UUID]) -> list[KnowledgeBaseRow]:
        """The tenant's knowledge bases among `kb_ids`."""
        async with self._db.tenant_tx(tenant_id) as conn:
            records = await conn.fetch(
                f"SELECT {_KB_COLUMNS} FROM knowledge.knowledge_bases k WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
                tenant_id,
                kb_ids,
            )
        return [_kb(r) for r in records]

    async def page_kbs(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[KnowledgeBaseRow]:
        """The tenant's knowledge bases oldest first, after a keyset cursor."""
        cursor = after or (datetime.fromtimestamp(0).astimezone(), uuid.UUID(int=0))
        async with self._db.tenant_tx(tenant_id) as conn:
            records = await conn.fetch(
                f"""SELECT {_KB_COLUMNS} FROM knowledge.knowledge_bases k
                    WHERE tenant_id = $1 AND (create_time, id) > ($2, $3) ORDER BY create_time, id LIMIT $4""",
                tenant_id,
                cursor[0],
                cursor[1],
                limit,
            )
        return [_kb(r) for r in records]

    async def delete_kb(self, tenant_id: uuid.UUID, kb_id: uuid.UUID, *, force: bool) -> Deleted | None:
        """Deletes a knowledge base and everything in it; None if missing, -1 documents if not empty and not forced."""
        async with self._db.tenant_tx(tenant_id) as conn:
            exists = await conn.fetchval(
                "SELECT 1 FROM knowledge.knowledge_bases WHERE id = $1 AND tenant_id = $2 FOR UPDATE", kb_id, tenant_id
            )
            if exists is None:
                return None
            held = await conn.fetchrow(
                """SELECT count(*) AS n, coalesce(sum(charged_bytes), 0) AS bytes FROM knowledge.documents
                   WHERE knowledge_base_id = $1""",
                kb_id,
            )
            assert held is not None
            if held["n"] and not force:
                return Deleted(-1, 0)
            await conn.execute("DELETE FROM knowledge.chunks WHERE knowledge_base_id = $1", kb_id)
            await conn.execute("DELETE FROM knowledge.knowledge_bases WHERE id = $1", kb_id)
        return Deleted(int(held["n"]), int(held["bytes"]))

    async def add_document(
        self, tenant_id: uuid.UUID, kb_id: uuid.UUID, new: NewDocument, event: IngestEvent
    ) -> DocumentRow | None:
        """Inserts a queued document and its ingestion event in one transaction; None on duplicate content."""
        doc_id = uuid.uuid4()
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                f"""INSERT INTO knowledge.documents (id, tenant_id, knowledge_base_id, title, source_kind, filename,
                      declared_mime, content, url, url_mode, max_pages, content_sha256, size_bytes, charged_bytes,
                      state)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'queued')
                    ON CONFLICT DO NOTHING RETURNING {_DOC_COLUMNS}""",
                doc_id,
                tenant_id,
                kb_id,
                new.title,
                new.source_kind,
                new.filename,
                new.declared_mime,
                new.content,
                new.url,
                new.url_mode,
                new.max_pages,
                new.content_sha256,
                len(new.content or b""),
                new.charged_bytes,
            )
            if record is None:
                return None
            await conn.execute("UPDATE knowledge.knowledge_bases SET update_time = now() WHERE id = $1", kb_id)
            await outbox.add(
                conn,
                "knowledge",
                exchange=event.exchange,
                routing_key=event.routing_key,
                payload={"tenant_id": str(tenant_id), "document_id": str(doc_id)},
                tenant_id=tenant_id,
            )
        return _doc(record)

    async def get_document(self, tenant_id: uuid.UUID, kb_id: uuid.UUID, doc_id: uuid.UUID) -> DocumentRow | None:
        """One document of a knowledge base, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                f"SELECT {_DOC_COLUMNS} FROM knowledge.documents WHERE id = $1 AND knowledge_base_id = $2",
                doc_id,
                kb_id,
            )
        return _doc(record) if record else None

    async def page_documents(
        self, tenant_id: uuid.UUID, kb_id: uuid.UUID, state: str, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[DocumentRow]:
        """A knowledge base's documents newest first, optionally in one state, before a keyset cursor."""
        cursor = before or (datetime.fromisoformat("9999-01-01T00:00:00+00:00"), uuid.UUID(int=(1 << 128) - 1))
        async with self._db.tenant_tx(tenant_id) as conn:
            records = await conn.fetch(
                f"""SELECT {_DOC_COLUMNS} FROM knowledge.documents
                    WHERE knowledge_base_id = $1 AND ($2 = '' OR state = $2) AND (create_time, id) < ($3, $4)
                    ORDER BY create_time DESC, id DESC LIMIT $5""",
                kb_id,
                state,
                cursor[0],
                cursor[1],
                limit,
            )
        return [_doc(r) for r in records]

    async def delete_document(self, tenant_id: uuid.UUID, kb_id: uuid.UUID, doc_id: uuid.UUID) -> Deleted | None:
        """Deletes a document with its chunks, None if missing; the knowledge version moves on when searchable
        content went away."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                """DELETE FROM knowledge.documents WHERE id = $1 AND knowledge_base_id = $2
                   RETURNING state, charged_bytes""",
                doc_id,
                kb_id,
            )
            if record is None:
                return None
            await bump_version(conn, kb_id, content_changed=record["state"] == "ready")
        return Deleted(1, int(record["charged_bytes"]))


async def bump_version(conn: Connection, kb_id: uuid.UUID, *, content_changed: bool = True) -> None:
    """Moves a knowledge base's knowledge_version on (the AI cache keys on it) and its update times."""
    await conn.execute(
        """UPDATE knowledge.knowledge_bases SET knowledge_version = knowledge_version + 1, update_time = now(),
             content_update_time = now() WHERE id = $1"""
        if content_changed
        else "UPDATE knowledge.knowledge_bases SET update_time = now() WHERE id = $1",
        kb_id,
    )
