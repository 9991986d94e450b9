"""Knowledge benchmark: ingestion throughput, and HNSW search latency and recall@10 against exact search.

Starts its own embedded PostgreSQL (pgvector) in a scratch folder. Ingestion runs the service's own pipeline
pieces on pages of Debian's PostgreSQL 15 manual: extract, chunk (254 tokens), embed with all-MiniLM-L6-v2 in
batches, insert. Search runs at 10k and 100k chunks whose vectors are manual embeddings with Gaussian noise
(clustered like real text, unlike uniform random vectors), with the service's query shape: tenant and knowledge
base filters inside the query, cosine distance, top 10. Exact search is the same query as a sequential scan.

    .venv/bin/python -m bench.knowledge_bench [--pages 30] [--sizes 10000 100000] [--queries 100] [--ef 40 100 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

# Spinning OpenMP threads collapse throughput on a shared 2-core machine; read when torch first loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from services.knowledge.chunking import ChunkingOptions, chunk_document
from services.knowledge.extract import extract
from services.knowledge.minilm import MiniLmEmbedder
from services.knowledge.tokens import minilm_token_counter
from services.runtime import embedded_pg

MANUAL = Path("/usr/share/doc/postgresql-doc-15/html")
TENANT = uuid.UUID(int=1)
KB = uuid.UUID(int=2)
DDL = """
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS chunks;
CREATE TABLE chunks (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, knowledge_base_id uuid NOT NULL,
                     text text NOT NULL, embedding vector(384) NOT NULL);
"""
QUERY = """SELECT id FROM chunks WHERE tenant_id = $1 AND knowledge_base_id = $2
           ORDER BY embedding <=> $3 LIMIT 10"""


def manual_pages(count: int) -> list[Path]:
    """`count` pages spread evenly over the manual."""
    every = sorted(MANUAL.glob("*.html"))
    return every[:: max(1, len(every) // count)][:count]


async def ingest(conn: asyncpg.Connection, pages: int) -> tuple[int, float, np.ndarray]:
    """Extracts, chunks, embeds and inserts manual pages; returns chunks, seconds, and the vectors."""
    embedder = MiniLmEmbedder(batch_size=32)
    await embedder.load()
    counter = minilm_token_counter()
    files = await asyncio.to_thread(manual_pages, pages)
    started = time.perf_counter()
    texts: list[str] = []
    for page in files:
        document = extract(page.read_bytes(), "text/html", page.name)
        texts += [c.text for c in chunk_document(document, counter, ChunkingOptions(254, 32))]
    vectors = np.asarray(await embedder.embed(texts), dtype=np.float32)
    await conn.copy_records_to_table(
        "chunks",
        records=[(i, TENANT, KB, t, v) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))],
        columns=["id", "tenant_id", "knowledge_base_id", "text", "embedding"],
    )
    return len(texts), time.perf_counter() - started, vectors


def synthetic(centers: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """`n` unit vectors between random pairs of the real embeddings, plus a little noise: a continuous,
    text-like spread (tight Gaussian blobs instead make every point of a blob an equal-distance tie)."""
    mix = rng.uniform(0.0, 1.0, (n, 1)).astype(np.float32)
    picks = centers[rng.integers(0, len(centers), n)] * mix + centers[rng.integers(0, len(centers), n)] * (1 - mix)
    data = picks + rng.normal(0.0, noise, (n, centers.shape[1])).astype(np.float32)
    unit: np.ndarray = data / np.linalg.norm(data, axis=1, keepdims=True)
    return unit


async def fill(conn: asyncpg.Connection, vectors: np.ndarray, first_id: int) -> None:
    """Appends vectors as chunks of the one benchmark tenant and knowledge base."""
    await conn.copy_records_to_table(
        "chunks",
        records=[(first_id + i, TENANT, KB, "", v) for i, v in enumerate(vectors)],
        columns=["id", "tenant_id", "knowledge_base_id", "text", "embedding"],
    )


async def timed(conn: asyncpg.Connection, queries: np.ndarray) -> tuple[list[set[int]], list[float]]:
    """Runs each query; returns the found ids and latencies in milliseconds."""
    found: list[set[int]] = []
    latencies: list[float] = []
    for q in queries:
        started = time.perf_counter()
        rows = await conn.fetch(QUERY, TENANT, KB, q)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append({r["id"] for r in rows})
    return found, latencies


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values`."""
    return float(np.quantile(np.asarray(values), q))


async def measure(
    conn: asyncpg.Connection, size: int, queries: np.ndarray, efs: list[int], iterative: str
) -> list[str]:
    """Table rows for one corpus size: exact, then HNSW at each ef_search."""
    await conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
    truth, exact_ms = await timed(conn, queries)
    await conn.execute("RESET enable_indexscan; RESET enable_bitmapscan")
    rows = [f"{size:>7} | exact (seq scan) | {'-':>4} | {pct(exact_ms, 0.5):8.2f} | {pct(exact_ms, 0.99):8.2f} | 1.000"]
    # The planner prefers a sequential scan on small tables (exact, and fine for the service); force the index here.
    await conn.execute(f"SET hnsw.iterative_scan = {iterative}; SET enable_seqscan = off")
    for ef in efs:
        await conn.execute(f"SET hnsw.ef_search = {int(ef)}")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + QUERY, TENANT, KB, queries[0]))
        assert "chunks_embedding" in plan, plan
        await timed(conn, queries[:10])  # warm the index pages
        found, ms = await timed(conn, queries)
        recall = statistics.mean(len(f & t) / 10 for f, t in zip(found, truth, strict=True))
        rows.append(
            f"{size:>7} | hnsw             | {ef:>4} | {pct(ms, 0.5):8.2f} | {pct(ms, 0.99):8.2f} | {recall:.3f}"
        )
    await conn.execute("RESET enable_seqscan")
    return rows


async def run(args: argparse.Namespace) -> None:
    """Starts PostgreSQL, ingests, then measures each size."""
    with tempfile.TemporaryDirectory(prefix="knowledge-bench-") as folder:
        url = embedded_pg.ensure_database(Path(folder))
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(DDL)
            await register_vector(conn)
            await conn.execute("SET maintenance_work_mem = '1GB'")
            chunks, seconds, real = await ingest(conn, args.pages)
            print(f"ingestion: {chunks} chunks from {args.pages} manual pages in {seconds:.1f} s"
                  f" = {chunks / seconds:.1f} chunks/s (extract + chunk + MiniLM embed + insert)")  # fmt: skip
            rng = np.random.default_rng(7)
            queries = synthetic(real, args.queries, args.noise, rng)
            table = ["   size | search           |   ef | p50 (ms) | p99 (ms) | recall@10", "-" * 66]
            have = chunks
            for size in args.sizes:
                await conn.execute("DROP INDEX IF EXISTS chunks_embedding")
                await fill(conn, synthetic(real, size - have, args.noise, rng), have)
                have = size
                started = time.perf_counter()
                await conn.execute(
                    "CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops)"
                    f" WITH (m = {int(args.m)}, ef_construction = {int(args.ef_construction)})"
                )
                await conn.execute("ANALYZE chunks")
                print(f"HNSW index over {size} chunks built in {time.perf_counter() - started:.1f} s")
                table += await measure(conn, size, queries, args.ef, args.iterative)
            print("\n".join(table))
        finally:
            await conn.close()
            embedded_pg.stop(Path(folder))


def main() -> None:
    """Parses arguments and runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--m", type=int, default=16, help="HNSW links per node (the service's migration: 16)")
    parser.add_argument("--ef-construction", type=int, default=64, help="HNSW build width (the service's: 64)")
    parser.add_argument("--noise", type=float, default=0.01, help="per-component noise added to each vector")
    parser.add_argument(
        "--iterative",
        choices=["off", "relaxed_order", "strict_order"],
        default="relaxed_order",
        help="hnsw.iterative_scan (the service uses relaxed_order)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
