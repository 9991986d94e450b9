"""The ingestion pipeline of one document: fetch or read, extract, chunk, embed, and commit in one transaction.

An attempt either commits all of a document's chunks together with its `ready` state, or nothing. A job
delivered again (worker killed, broker redelivery) starts a new attempt; a stale attempt can no longer commit,
so a document ends with exactly one set of chunks. Failures that retrying cannot fix, and the last allowed
attempt, mark the document failed and send the job to the dead-letter queue with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.knowledge.chunking import Chunk, ChunkingOptions, chunk_document, dedupe
from services.knowledge.embedding import Embedder
from services.knowledge.errors import KnowledgeError
from services.knowledge.extract import ExtractedDocument, extract
from services.knowledge.ingest_store import IngestStore, Job, Outcome, StoredChunk
from services.knowledge.sitemap import sitemap_pages
from services.knowledge.tokens import TokenCounter
from services.knowledge.url_fetch import SafeFetcher
from services.runtime import errors
from services.runtime.bus import PermanentFailure
from services.runtime.quota import PlanQuota

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    """How the pipeline batches, caps and retries."""

    max_attempts: int = 4
    """Attempts before a document fails for good."""
    batch_size: int = 32
    """Texts per embedding call; progress is recorded after each."""
    max_chunk_tokens: int = 254
    """The embedder's window: MiniLM reads 256 word pieces, [CLS] and [SEP] included."""
    delay_seconds: float = 0.0
    """Pause after each batch (tests that need a slow worker)."""


@dataclass(frozen=True)
class _Source:
    """One fetched or uploaded content with its extracted form."""

    url: str
    content: bytes
    document: ExtractedDocument


def is_permanent(exc: BaseException) -> bool:
    """Whether trying the same document again cannot succeed."""
    if isinstance(exc, PermanentFailure):
        return True
    return isinstance(exc, KnowledgeError) and not exc.retryable


def describe(exc: BaseException) -> str:
    """A failure reason for people: the domain message, or the error type for anything unexpected."""
    if isinstance(exc, KnowledgeError | PermanentFailure):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {str(exc)[:300]}"


class Ingestor:
    """Processes ingestion jobs; `handle` is the bus handler."""

    def __init__(
        self,
        store: IngestStore,
        embedder: Embedder,
        counter: TokenCounter,
        fetcher: SafeFetcher,
        options: IngestOptions,
        *,
        storage_quota: PlanQuota,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._counter = counter
        self._fetcher = fetcher
        self._options = options
        self._storage = storage_quota

    async def handle(self, body: Mapping[str, Any], routing_key: str) -> None:
        """Processes the document an event names; a malformed event is dead-lettered."""
        try:
            tenant_id = uuid.UUID(str(body["tenant_id"]))
            document_id = uuid.UUID(str(body["document_id"]))
        except (KeyError, ValueError):
            raise PermanentFailure("event has no valid tenant_id and document_id") from None
        await self.process(tenant_id, document_id)

    async def process(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Runs one attempt on a document, unless it is gone or already finished."""
        job = await self._store.job(tenant_id, document_id)
        if job is None or job.state in ("ready", "failed"):
            return
        attempt = await self._store.start_attempt(tenant_id, document_id)
        if attempt is None:
            return
        log.info("processing document", extra={"document": str(document_id), "attempt": attempt})
        try:
            await self._run(job, attempt)
        except Exception as exc:
            reason = describe(exc)
            if is_permanent(exc) or attempt >= self._options.max_attempts:
                await self._store.fail(tenant_id, document_id, reason)
                raise PermanentFailure(reason) from exc
            await self._store.retry_later(tenant_id, document_id, attempt)
            raise

    async def _run(self, job: Job, attempt: int) -> None:
        sources = await self._sources(job)
        await self._store.progress(job.tenant_id, job.document_id, attempt, 10)
        content = b"".join(s.content for s in sources)
        sha256 = job.content_sha256 or hashlib.sha256(content).hexdigest()
        if job.source_kind == "url":
            duplicate = await self._store.duplicate_of(job.tenant_id, job.knowledge_base_id, job.document_id, sha256)
            if duplicate is not None:
                raise PermanentFailure(f"same content as document {duplicate} of this knowledge base")
        pieces = await asyncio.to_thread(self._chunk, job, sources)
        await self._store.progress(job.tenant_id, job.document_id, attempt, 20)

        async def embedded(done: int) -> None:
            if self._options.delay_seconds:
                await asyncio.sleep(self._options.delay_seconds)
            percent = 20 + int(75 * done / max(len(pieces), 1))
            await self._store.progress(job.tenant_id, job.document_id, attempt, percent)

        texts = [embedding_text(c) for _, c in pieces]
        vectors = await embed_in_batches(self._embedder, texts, self._options.batch_size, embedded)
        stored = [
            StoredChunk(c.index, c.text, c.token_count, c.title_path, c.page, c.char_start, c.char_end, url,
                        c.content_sha256, vector)
            for (url, c), vector in zip(pieces, vectors, strict=True)
        ]  # fmt: skip
        first_doc = sources[0].document
        # An upload's bytes were charged when it was stored; a URL import's are charged now that they are known,
        # and given back unless this attempt is the one that makes the document ready.
        charge = len(content) if job.source_kind == "url" else 0
        outcome = Outcome(
            title=first_doc.title,
            mime_type="text/html" if job.url_mode == "sitemap" else first_doc.mime_type,
            size_bytes=len(content),
            content_sha256=sha256,
            page_count=len(sources) if job.source_kind == "url" else first_doc.page_count,
            charged_bytes=charge,
        )
        if charge:
            await self._reserve_storage(job.tenant_id, charge)
        finished = False
        try:
            finished = await self._store.finish(job, attempt, outcome, stored)
        finally:
            if not finished and charge:
                await self._storage.release_or_log(job.tenant_id, charge)
        if finished:
            log.info("document ready", extra={"document": str(job.document_id), "chunks": len(stored)})

    async def _reserve_storage(self, tenant_id: uuid.UUID, amount: int) -> None:
        """Takes `amount` bytes of the plan's storage; a full plan fails the document for good, with the limit named."""
        try:
            await self._storage.reserve(tenant_id, amount)
        except errors.LimitExceeded as exc:
            raise PermanentFailure(f"{amount} bytes do not fit the plan: {exc}") from None

    async def _sources(self, job: Job) -> list[_Source]:
        """The uploaded content, or the fetched page(s) of a URL import, extracted."""
        if job.source_kind == "upload":
            raw = job.content or b""
            doc = await asyncio.to_thread(extract, raw, job.declared_mime, job.filename)
            return [_Source("", raw, doc)]
        urls = [job.url]
        if job.url_mode == "sitemap":
            urls = await sitemap_pages(self._fetcher, job.url, job.max_pages)
        sources = []
        for url in urls:
            page = await self._fetcher.fetch(url)
            doc = await asyncio.to_thread(extract, page.content, page.mime_type, "", page.url)
            sources.append(_Source(page.url, page.content, doc))
        return sources

    def _chunk(self, job: Job, sources: list[_Source]) -> list[tuple[str, Chunk]]:
        """Every source's chunks, numbered through, without repeats of the same text."""
        max_tokens = min(job.chunk_size, self._options.max_chunk_tokens)
        overlap = min(job.chunk_overlap, (max_tokens - 1) // 2)
        options = ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap)
        found: list[tuple[str, Chunk]] = []
        seen: set[str] = set()
        for source in sources:
            for chunk in dedupe(chunk_document(source.document, self._counter, options)):
                if chunk.content_sha256 not in seen:
                    seen.add(chunk.content_sha256)
                    found.append((source.url, replace(chunk, index=len(found))))
        return found


async def embed_in_batches(
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int,
    after_batch: Callable[[int], Awaitable[None]] | None = None,
) -> list[list[float]]:
    """One vector per text, in input order, embedded in batches of texts of similar length; `after_batch` gets how
    many texts are done after each batch (progress)."""
    # A batch is padded to its longest text, so batching neighbours by length rather than by position spends
    # less of the model's time on padding (a document's chunks are mostly full-size, with short ones between).
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: list[list[float]] = [[] for _ in texts]
    for first in range(0, len(order), batch_size):
        positions = order[first : first + batch_size]
        for position, vector in zip(positions, await embedder.embed([texts[i] for i in positions]), strict=True):
            vectors[position] = vector
        if after_batch is not None:
            await after_batch(min(first + batch_size, len(order)))
    return vectors


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the innermost heading gives a chunk the context its text alone may lack."""
    return f"{chunk.title_path[-1]}\n{chunk.text}" if chunk.title_path else chunk.text
