"""Hybrid retrieval: a vector ranking and a keyword ranking merged by reciprocal rank fusion (RRF)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.knowledge.embedding import Embedder
from services.knowledge.search_store import ChunkHit, SearchStore

#: RRF's damping constant from Cormack et al. (2009); 60 is the value most systems keep.
RRF_K = 60


class Mode(StrEnum):
    """How chunks are ranked."""

    HYBRID = "hybrid"
    VECTOR = "vector"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Ranked:
    """A chunk with its final score and its rank in each ranking (0 when absent)."""

    hit: ChunkHit
    score: float
    vector_rank: int
    keyword_rank: int


def fuse(vector: Sequence[ChunkHit], keyword: Sequence[ChunkHit], k: int = RRF_K) -> list[Ranked]:
    """Sums 1/(k + rank) over both rankings; ties keep the vector ranking's order."""
    hits: dict[uuid.UUID, ChunkHit] = {}
    ranks: dict[uuid.UUID, list[int]] = {}
    for position, ranking in enumerate((vector, keyword)):
        for rank, hit in enumerate(ranking, start=1):
            hits.setdefault(hit.id, hit)
            ranks.setdefault(hit.id, [0, 0])[position] = rank
    fused = [Ranked(hits[i], sum(1.0 / (k + r) for r in ranks[i] if r), ranks[i][0], ranks[i][1]) for i in hits]
    return sorted(fused, key=lambda r: -r.score)


class Retriever:
    """Runs the rankings a mode needs, concurrently, over the given knowledge bases of one tenant."""

    def __init__(self, store: SearchStore, embedder: Embedder) -> None:
        self._store = store
        self._embedder = embedder

    async def search(
        self, tenant_id: uuid.UUID, kb_ids: Sequence[uuid.UUID], query: str, top_k: int, mode: Mode
    ) -> list[Ranked]:
        """The best `top_k` chunks for `query`."""
        # Fusion needs more than top_k from each side, or a chunk ranked well by both could be missed.
        depth = max(4 * top_k, 40) if mode is Mode.HYBRID else top_k

        async def vector() -> list[ChunkHit]:
            if mode is Mode.KEYWORD:
                return []
            [embedding] = await self._embedder.embed([query])
            return await self._store.by_vector(tenant_id, kb_ids, embedding, depth)

        async def keyword() -> list[ChunkHit]:
            if mode is Mode.VECTOR:
                return []
            return await self._store.by_keyword(tenant_id, kb_ids, query, depth)

        by_vector, by_keyword = await asyncio.gather(vector(), keyword())
        if mode is Mode.VECTOR:
            return [Ranked(h, h.score, i, 0) for i, h in enumerate(by_vector, start=1)]
        if mode is Mode.KEYWORD:
            return [Ranked(h, h.score, 0, i) for i, h in enumerate(by_keyword, start=1)]
        return fuse(by_vector, by_keyword)[:top_k]
