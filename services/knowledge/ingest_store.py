"""SQL of the ingestion worker: claiming an attempt, progress, and writing a document's chunks at once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.knowledge.store import bump_version
from services.runtime.db import Database


@dataclass(frozen=True)
class Job:
    """What a worker needs to process one document."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    state: str
    title: str
    source_kind: str
    filename: str
    declared_mime: str
    content: bytes | None
    url: str
    url_mode: str
    max_pages: int
    content_sha256: str
    chunk_size: int
    chunk_overlap: int


@dataclass(frozen=True)
class StoredChunk:
    """One chunk ready to insert, with its vector."""

    index: int
    text: str
    token_count: int
    title_path: Sequence[str]
    page: int
    char_start: int
    char_end: int
    url: str
    content_sha256: str
    embedding: Sequence[float]


@dataclass(frozen=True)
class Outcome:
    """The document-level results of a finished attempt."""

    title: str
    mime_type: str
    size_bytes: int
    content_sha256: str
    page_count: int
    charged_bytes: int = 0
    """Storage bytes reserved by this attempt (a URL import's fetched content), added to the document's."""


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


class IngestStore:
    """Document state transitions of the worker; every write names the attempt it belongs to."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def job(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Job | None:
        """The document with its content and chunking options, or None when it was deleted."""
        async with self._db.tenant_tx(tenant_id) as conn:
            record = await conn.fetchrow(
                """SELECT d.tenant_id, d.id AS document_id, d.knowledge_base_id, d.state, d.title, d.source_kind,
                          d.filename, d.declared_mime, d.content, d.url, d.url_mode, d.max_pages, d.content_sha256,
                          k.chunk_size, k.chunk_overlap
                   FROM knowledge.documents d JOIN knowledge.knowledge_bases k ON k.id = d.knowledge_base_id
                   WHERE d.id = $1""",
                document_id,
            )
        return Job(**dict(record)) if record else None

    async def start_attempt(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> int | None:
        """Marks the document processing and returns the new attempt number; None if it is ready, failed or gone."""
        async with self._db.tenant_tx(tenant_id) as conn:
            attempt: int | None = await conn.fetchval(
                """UPDATE knowledge.documents SET state = 'processing', attempt_count = attempt_count + 1,
                     progress_percent = 1, failure_reason = '', update_time = now()
                   WHERE id = $1 AND state IN ('queued', 'processing') RETURNING attempt_count""",
                document_id,
            )
        return attempt

    async def progress(self, tenant_id: uuid.UUID, document_id: uuid.UUID, attempt: int, percent: int) -> None:
        """Records progress of the current attempt (a stale attempt changes nothing)."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await conn.execute(
                """UPDATE knowledge.documents SET progress_percent = $3, update_time = now()
                   WHERE id = $1 AND attempt_count = $2 AND state = 'processing'""",
                document_id,
                attempt,
                percent,
            )

    async def duplicate_of(
        self, tenant_id: uuid.UUID, kb_id: uuid.UUID, document_id: uuid.UUID, sha256: str
    ) -> uuid.UUID | None:
        """Another document of the knowledge base with the same content, if any."""
        async with self._db.tenant_tx(tenant_id) as conn:
            found: uuid.UUID | None = await conn.fetchval(
                """SELECT id FROM knowledge.documents
                   WHERE knowledge_base_id = $1 AND content_sha256 = $2 AND id <> $3""",
                kb_id,
                sha256,
                document_id,
            )
        return found

    async def finish(self, job: Job, attempt: int, outcome: Outcome, chunks: Sequence[StoredChunk]) -> bool:
        """Writes every chunk and marks the document ready in one transaction; False if this attempt is stale."""
        async with self._db.tenant_tx(job.tenant_id) as conn:
            current = await conn.fetchrow(
                "SELECT attempt_count, state FROM knowledge.documents WHERE id = $1 FOR UPDATE", job.document_id
            )
            if current is None or current["attempt_count"] != attempt or current["state"] != "processing":
                return False
            # Chunks of an earlier attempt cannot exist (each attempt commits all or nothing), but a redelivery
            # must never double them, so the document's chunks are replaced rather than added to.
            await conn.execute("DELETE FROM knowledge.chunks WHERE document_id = $1", job.document_id)
            await conn.executemany(
                """INSERT INTO knowledge.chunks (id, tenant_id, knowledge_base_id, document_id, attempt, chunk_index,
                     text, token_count, title_path, page_number, char_start, char_end, url, content_sha256, embedding)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::vector)""",
                [
                    (
                        uuid.uuid4(),
                        job.tenant_id,
                        job.knowledge_base_id,
                        job.document_id,
                        attempt,
                        c.index,
                        c.text,
                        c.token_count,
                        list(c.title_path),
                        c.page,
                        c.char_start,
                        c.char_end,
                        c.url,
                        c.content_sha256,
                        vector_literal(c.embedding),
                    )
                    for c in chunks
                ],
            )
            await conn.execute(
                """UPDATE knowledge.documents SET state = 'ready', progress_percent = 100, failure_reason = '',
                     chunk_count = $2, token_count = $3, title = CASE WHEN title = '' THEN $4 ELSE title END,
                     mime_type = $5, size_bytes = $6, content_sha256 = $7, page_count = $8,
                     charged_bytes = charged_bytes + $9, update_time = now()
                   WHERE id = $1""",
                job.document_id,
                len(chunks),
                sum(c.token_count for c in chunks),
                outcome.title[:300],
                outcome.mime_type,
                outcome.size_bytes,
                outcome.content_sha256,
                outcome.page_count,
                outcome.charged_bytes,
            )
            await bump_version(conn, job.knowledge_base_id)
        return True

    async def retry_later(self, tenant_id: uuid.UUID, document_id: uuid.UUID, attempt: int) -> None:
        """Puts the document back in the queue after a transient failure of `attempt`."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await conn.execute(
                """UPDATE knowledge.documents SET state = 'queued', progress_percent = 0, update_time = now()
                   WHERE id = $1 AND attempt_count = $2 AND state = 'processing'""",
                document_id,
                attempt,
            )

    async def fail(self, tenant_id: uuid.UUID, document_id: uuid.UUID, reason: str) -> None:
        """Marks the document failed for good; nothing of it is searchable."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await conn.execute("DELETE FROM knowledge.chunks WHERE document_id = $1", document_id)
            await conn.execute(
                """UPDATE knowledge.documents SET state = 'failed', failure_reason = $2, progress_percent = 0,
                     chunk_count = 0, token_count = 0, update_time = now()
                   WHERE id = $1 AND state <> 'ready'""",
                document_id,
                reason[:1000],
            )
