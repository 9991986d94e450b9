"""Knowledge benchmark: ingestion throughput, and the service's search latency and recall@10 against exact search.

Starts its own embedded PostgreSQL (pgvector) in a scratch folder and applies the knowledge service's migrations,
so the table, its HNSW index and its settings are the service's own.

Ingestion runs the worker's pipeline pieces on pages of Debian's PostgreSQL 15 manual: extract, chunk (254
tokens, the largest MiniLM reads), embed in the worker's batches with all-MiniLM-L6-v2, insert.

Search runs on real text (see bench/knowledge_corpus.py: chunks of the PostgreSQL manual and of man pages, and
queries from held-out documents, all embedded with the service's MiniLM; cached under .data/bench/). At each size
the chunks are copied into `knowledge.chunks` as one knowledge base of one tenant, the migration's HNSW index is
built, and each query runs through the service's own `SearchStore.by_vector` (tenant transaction under row-level
security, `hnsw.ef_search` and `hnsw.iterative_scan` as the service sets them, tenant and knowledge-base filters
inside the query, sources joined). Exact search is the ranking part of that query (what the index answers) as a
sequential scan. The hybrid row
times the service's `Retriever` (vector and keyword rankings concurrently, fused) with the query vectors already
computed; embedding a query is timed on its own row.

    .venv/bin/python -m bench.knowledge_bench [--pages 30] [--sizes 10000 100000] [--queries 200] [--ef 40 100 200 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

# Spinning OpenMP threads collapse throughput on a shared 2-core machine; read when torch first loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from bench import knowledge_corpus
from services.knowledge.chunking import ChunkingOptions, chunk_document
from services.knowledge.extract import extract
from services.knowledge.hybrid_search import Mode, Retriever
from services.knowledge.ingest import embed_in_batches, embedding_text
from services.knowledge.minilm import MiniLmEmbedder
from services.knowledge.search_store import VECTOR_SQL, SearchStore
from services.knowledge.tokens import minilm_token_counter
from services.runtime import embedded_pg
from services.runtime.db import Database
from services.runtime.migrations import migrate

MANUAL = Path("/usr/share/doc/postgresql-doc-15/html")
TENANT = uuid.UUID(int=1)
KB = uuid.UUID(int=2)
#: Chunks per benchmark document row (chunks need a document; the count does not change the search).
PER_DOCUMENT = 1000
EXACT_SQL = """SELECT id FROM knowledge.chunks WHERE tenant_id = $1 AND knowledge_base_id = ANY($2::uuid[])
               ORDER BY embedding <=> $3 LIMIT 10"""
HEADER = "   size | search                      |   ef | p50 (ms) | p99 (ms) | recall@10"


class PrecomputedEmbedder:
    """The query vectors of the corpus by query text, so the hybrid row times search rather than MiniLM."""

    def __init__(self, queries: Sequence[str], vectors: np.ndarray) -> None:
        self._vectors = {q: v.tolist() for q, v in zip(queries, vectors, strict=True)}

    @property
    def model(self) -> str:
        """The model the vectors came from."""
        return "offline-minilm-l6"

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return 384

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The stored vector of each query."""
        return [self._vectors[t] for t in texts]

    async def aclose(self) -> None:
        """Nothing to release."""


def manual_pages(count: int) -> list[Path]:
    """`count` pages spread evenly over the manual."""
    every = sorted(MANUAL.glob("*.html"))
    return every[:: max(1, len(every) // count)][:count]


async def ingest(conn: asyncpg.Connection, pages: int, batch_size: int) -> tuple[int, int, float]:
    """Extracts, chunks, embeds (as the worker batches) and inserts manual pages; returns chunks, tokens, seconds."""
    embedder = MiniLmEmbedder(batch_size=batch_size)
    await embedder.load()
    counter = minilm_token_counter()
    files = await asyncio.to_thread(manual_pages, pages)
    started = time.perf_counter()
    chunks = []
    for page in files:
        document = extract(page.read_bytes(), "text/html", page.name)
        chunks += chunk_document(document, counter, ChunkingOptions(254, 32))
    texts = [embedding_text(c) for c in chunks]
    vectors = await embed_in_batches(embedder, texts, batch_size)
    await conn.executemany(
        "INSERT INTO ingest_chunks (text, embedding) VALUES ($1, $2)",
        [(t, np.asarray(v, dtype=np.float32)) for t, v in zip(texts, vectors, strict=True)],
    )
    return len(chunks), sum(c.token_count for c in chunks), time.perf_counter() - started


async def fill(conn: asyncpg.Connection, texts: list[str], vectors: np.ndarray, first: int) -> None:
    """Appends chunks `first`.. to the benchmark knowledge base, with their documents."""
    documents = range(first // PER_DOCUMENT, (first + len(texts) + PER_DOCUMENT - 1) // PER_DOCUMENT)
    await conn.executemany(
        """INSERT INTO knowledge.documents (id, tenant_id, knowledge_base_id, title, source_kind, state)
           VALUES ($1, $2, $3, $4, 'upload', 'ready') ON CONFLICT DO NOTHING""",
        [(uuid.UUID(int=1000 + d), TENANT, KB, f"document {d}") for d in documents],
    )
    await conn.copy_records_to_table(
        "chunks",
        schema_name="knowledge",
        columns=["id", "tenant_id", "knowledge_base_id", "document_id", "attempt", "chunk_index", "text",
                 "token_count", "char_start", "char_end", "content_sha256", "embedding"],
        records=[
            (uuid.UUID(int=(1 << 64) + i), TENANT, KB, uuid.UUID(int=1000 + i // PER_DOCUMENT), 1, i % PER_DOCUMENT,
             text, 0, 0, len(text), "", vector)
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True), start=first)
        ],
    )  # fmt: skip


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values`."""
    return float(np.quantile(np.asarray(values), q))


def row(size: int, search: str, ef: str, ms: list[float], recall: str) -> str:
    """One line of the table."""
    return f"{size:>7} | {search:<27} | {ef:>4} | {pct(ms, 0.5):8.2f} | {pct(ms, 0.99):8.2f} | {recall:>9}"


async def vector_runs(store: SearchStore, queries: np.ndarray) -> tuple[list[list[uuid.UUID]], list[float]]:
    """Runs the service's vector ranking (top 10) for each query; the ids found and latencies in milliseconds."""
    found: list[list[uuid.UUID]] = []
    latencies: list[float] = []
    for q in queries:
        started = time.perf_counter()
        hits = await store.by_vector(TENANT, [KB], q.tolist(), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append([h.id for h in hits])
    return found, latencies


async def plan_of(db: Database, store: SearchStore, query: np.ndarray) -> str:
    """The plan the service's vector query gets, with the service's settings, in a tenant transaction."""
    async with db.tenant_tx(TENANT) as conn:
        await store.prepare_vector_search(conn, 10)
        records = await conn.fetch("EXPLAIN " + VECTOR_SQL, TENANT, [KB], str(query.tolist()), 10)
    return "\n".join(r[0] for r in records)


async def measure(
    db: Database, admin: asyncpg.Connection, size: int, corpus: knowledge_corpus.Corpus, efs: list[int]
) -> list[str]:
    """Table rows for one corpus size: exact, the service's vector search at each ef_search, and hybrid."""
    queries = corpus.query_vectors
    # Exact: the ranking part of the service's query (the HNSW index answers only that), as a sequential scan.
    await admin.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
    truth: list[list[uuid.UUID]] = []
    exact_ms: list[float] = []
    for q in queries:
        started = time.perf_counter()
        records = await admin.fetch(EXACT_SQL, TENANT, [KB], q)
        exact_ms.append((time.perf_counter() - started) * 1000)
        truth.append([r["id"] for r in records])
    plan = "\n".join(r[0] for r in await admin.fetch("EXPLAIN " + EXACT_SQL, TENANT, [KB], queries[0]))
    await admin.execute("RESET enable_indexscan; RESET enable_bitmapscan")
    assert "chunks_embedding" not in plan, plan
    rows = [row(size, "exact (seq scan)", "-", exact_ms, "1.000")]
    for ef in efs:
        store = SearchStore(db, ef)
        # The row says which plan the planner picked for the service's query: the index, or not.
        uses_index = "chunks_embedding" in await plan_of(db, store, queries[0])
        await vector_runs(store, queries[:10])  # warm the index pages
        found, ms = await vector_runs(store, queries)
        recall = statistics.mean(len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True))
        label = "service vector (hnsw)" if uses_index else "service vector (NO INDEX)"
        rows.append(row(size, label, str(ef), ms, f"{recall:.3f}"))
    for ef in efs[-1:]:
        retriever = Retriever(SearchStore(db, ef), PrecomputedEmbedder(corpus.queries, queries))
        hybrid_ms = []
        for text in corpus.queries:
            started = time.perf_counter()
            await retriever.search(TENANT, [KB], text, 10, Mode.HYBRID)
            hybrid_ms.append((time.perf_counter() - started) * 1000)
        rows.append(row(size, "service hybrid (vec+keyword)", str(ef), hybrid_ms, "-"))
    return rows


async def query_embedding_ms(queries: list[str]) -> list[float]:
    """Latency of embedding one query with MiniLM, as a search does before it runs."""
    embedder = MiniLmEmbedder()
    await embedder.load()
    latencies = []
    for text in queries:
        started = time.perf_counter()
        await embedder.embed([text])
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def run(args: argparse.Namespace) -> None:
    """Starts PostgreSQL, measures ingestion, then search at each size."""
    corpus = await knowledge_corpus.load(max(args.sizes), args.chunk_tokens, args.chunk_overlap, args.queries)
    assert corpus is not None
    print(f"search corpus: {corpus.description}")
    with tempfile.TemporaryDirectory(prefix="knowledge-bench-") as folder:
        url = embedded_pg.ensure_database(Path(folder))
        await asyncio.to_thread(migrate, url, ["knowledge"])
        admin = await asyncpg.connect(url)
        db = Database("knowledge", {"default": url}, max_size=4)
        try:
            await register_vector(admin)
            await admin.execute("SET maintenance_work_mem = '1GB'")
            await admin.execute("CREATE TABLE ingest_chunks (text text NOT NULL, embedding vector(384) NOT NULL)")
            chunks, tokens, seconds = await ingest(admin, args.pages, args.batch_size)
            print(f"ingestion: {chunks} chunks ({tokens / chunks:.0f} tokens on average) from {args.pages} manual"
                  f" pages in {seconds:.1f} s = {chunks / seconds:.1f} chunks/s, {tokens / seconds:.0f} tokens/s"
                  f" (extract + chunk + MiniLM embed in batches of {args.batch_size} + insert)")  # fmt: skip
            embed_ms = await query_embedding_ms(corpus.queries)
            index = await admin.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding'")
            if args.m or args.ef_construction:
                index = (
                    "CREATE INDEX chunks_embedding ON knowledge.chunks USING hnsw (embedding vector_cosine_ops)"
                    f" WITH (m = {int(args.m or 16)}, ef_construction = {int(args.ef_construction or 64)})"
                )
            print(f"index: {index}")
            await admin.execute(
                "INSERT INTO knowledge.knowledge_bases (id, tenant_id, display_name, embedding_model, chunk_size,"
                " chunk_overlap) VALUES ($1, $2, 'bench', 'offline-minilm-l6', $3, $4)",
                KB,
                TENANT,
                args.chunk_tokens,
                args.chunk_overlap,
            )
            table = [HEADER, "-" * len(HEADER), row(0, "embed one query (MiniLM)", "-", embed_ms, "-")]
            have = 0
            for size in sorted(args.sizes):
                await admin.execute("DROP INDEX IF EXISTS knowledge.chunks_embedding")
                await fill(admin, corpus.texts[have:size], corpus.vectors[have:size], have)
                have = size
                started = time.perf_counter()
                await admin.execute(index)
                await admin.execute("ANALYZE knowledge.chunks")
                print(f"HNSW index over {size} chunks built in {time.perf_counter() - started:.1f} s", flush=True)
                table += await measure(db, admin, size, corpus, args.ef)
            print("\n".join(table))
        finally:
            await db.close()
            await admin.close()
            embedded_pg.stop(Path(folder))


def main() -> None:
    """Parses arguments and runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=30, help="manual pages ingested for the throughput line")
    parser.add_argument("--batch-size", type=int, default=32, help="embedding batch (the worker's default: 32)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--chunk-tokens", type=int, default=64, help="chunk size of the search corpus")
    parser.add_argument("--chunk-overlap", type=int, default=8, help="chunk overlap of the search corpus")
    parser.add_argument("--m", type=int, default=0, help="HNSW links per node instead of the migration's")
    parser.add_argument("--ef-construction", type=int, default=0, help="HNSW build width instead of the migration's")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
