"""SQL of retrieval and statistics: vector (HNSW) and keyword (full-text) rankings, filtered inside the query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.knowledge.ingest_store import vector_literal
from services.runtime.db import Connection, Database

_HIT_COLUMNS = """c.id, c.knowledge_base_id, c.document_id, c.text, c.title_path, c.page_number, c.char_start,
  c.char_end, c.url, d.title"""
#: The vector ranking: $1 tenant, $2 knowledge bases, $3 query vector, $4 limit. The inner query is the part the
#: HNSW index answers; sources are joined to its few rows only.
VECTOR_SQL = f"""SELECT {_HIT_COLUMNS}, 1 - s.distance AS score FROM (
      SELECT id, embedding <=> $3::vector AS distance FROM knowledge.chunks
      WHERE tenant_id = $1 AND knowledge_base_id = ANY($2::uuid[])
      ORDER BY embedding <=> $3::vector LIMIT $4) s
    JOIN knowledge.chunks c ON c.id = s.id JOIN knowledge.documents d ON d.id = c.document_id
    ORDER BY s.distance"""  # noqa: S608 - columns are a module constant


@dataclass(frozen=True)
class ChunkHit:
    """A chunk found by one ranking, with its source."""

    id: uuid.UUID
    knowledge_base_id: uuid.UUID
    document_id: uuid.UUID
    text: str
    title_path: list[str]
    page_number: int
    char_start: int
    char_end: int
    url: str
    title: str
    score: float


@dataclass(frozen=True)
class Stats:
    """Totals of one knowledge base or of all of a tenant's."""

    by_state: dict[str, int]
    chunk_count: int
    token_count: int
    storage_bytes: int
    knowledge_version: int
    last_update_time: datetime | None


def _hit(record: asyncpg.Record) -> ChunkHit:
    values = {k: record[k] for k in ChunkHit.__dataclass_fields__}
    values["title_path"] = list(values["title_path"])
    values["score"] = float(values["score"])
    return ChunkHit(**values)


class SearchStore:
    """Rankings over the chunks of some knowledge bases of one tenant."""

    def __init__(self, db: Database, ef_search: int) -> None:
        self._db = db
        self._ef_search = ef_search

    async def by_vector(
        self, tenant_id: uuid.UUID, kb_ids: Sequence[uuid.UUID], vector: Sequence[float], limit: int
    ) -> list[ChunkHit]:
        """The nearest chunks by cosine distance (HNSW), best first; score is the cosine similarity."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await self.prepare_vector_search(conn, limit)
            records = await conn.fetch(VECTOR_SQL, tenant_id, list(kb_ids), vector_literal(vector), limit)
        return [_hit(r) for r in records]

    async def prepare_vector_search(self, conn: Connection, limit: int) -> None:
        """Sets the HNSW search options of the vector query for the rest of the transaction."""
        # Iterative scans keep the index useful under the tenant/knowledge-base filter: pgvector goes on
        # scanning until enough rows pass it instead of returning fewer than asked for. pgvector's cost estimate
        # grows with ef_search, and past a few thousand chunks it can make a sequential scan of the whole table
        # look cheaper (measured: tens of milliseconds at 100k chunks, against a few through the index), so the
        # planner is left the two index paths: the HNSW index, or the (tenant, knowledge base) index and a sort
        # when the filter keeps few rows.
        await conn.execute(
            """SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
                 set_config('enable_seqscan', 'off', true)""",
            str(max(self._ef_search, limit)),
        )

    async def by_keyword(
        self, tenant_id: uuid.UUID, kb_ids: Sequence[uuid.UUID], query: str, limit: int
    ) -> list[ChunkHit]:
        """The best full-text matches, best first; any query word may match, chunks with more of them rank higher."""
        async with self._db.tenant_tx(tenant_id) as conn:
            # plainto_tsquery ANDs every word, which a question rarely satisfies; OR-ing them lets ranking decide.
            records = await conn.fetch(
                f"""WITH q AS (SELECT NULLIF(replace(plainto_tsquery('english', $3)::text, '&', '|'), '')::tsquery
                                  AS query)
                    SELECT {_HIT_COLUMNS}, ts_rank_cd(c.tsv, q.query, 1) AS score
                    FROM knowledge.chunks c CROSS JOIN q JOIN knowledge.documents d ON d.id = c.document_id
                    WHERE c.tenant_id = $1 AND c.knowledge_base_id = ANY($2::uuid[]) AND c.tsv @@ q.query
                    ORDER BY score DESC, c.id LIMIT $4""",  # noqa: S608 - columns are a module constant
                tenant_id,
                list(kb_ids),
                query,
                limit,
            )
        return [_hit(r) for r in records]

    async def stats(self, tenant_id: uuid.UUID, kb_id: uuid.UUID | None) -> Stats:
        """Document counts by state, chunk and token totals, stored bytes, version and last content change."""
        async with self._db.tenant_tx(tenant_id) as conn:
            states = await conn.fetch(
                """SELECT state, count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM knowledge.documents
                   WHERE tenant_id = $1 AND ($2::uuid IS NULL OR knowledge_base_id = $2) GROUP BY state""",
                tenant_id,
                kb_id,
            )
            chunks = await conn.fetchrow(
                """SELECT count(*) AS n, coalesce(sum(token_count), 0) AS tokens,
                     coalesce(sum(octet_length(text) + pg_column_size(embedding) + pg_column_size(tsv)), 0) AS bytes
                   FROM knowledge.chunks WHERE tenant_id = $1 AND ($2::uuid IS NULL OR knowledge_base_id = $2)""",
                tenant_id,
                kb_id,
            )
            kb = await conn.fetchrow(
                """SELECT CASE WHEN $2::uuid IS NULL THEN 0 ELSE max(knowledge_version) END AS version,
                     max(content_update_time) AS last FROM knowledge.knowledge_bases
                   WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2)""",
                tenant_id,
                kb_id,
            )
        assert chunks is not None
        assert kb is not None
        return Stats(
            by_state={r["state"]: int(r["n"]) for r in states},
            chunk_count=int(chunks["n"]),
            token_count=int(chunks["tokens"]),
            storage_bytes=int(chunks["bytes"]) + sum(int(r["bytes"]) for r in states),
            knowledge_version=int(kb["version"] or 0),
            last_update_time=kb["last"],
        )
