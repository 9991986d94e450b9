"""The ingestion worker: consumes document events from RabbitMQ and runs the pipeline of ingest.py.

Run it as its own process with `python -m services.knowledge.worker`; tests start `IngestWorker` in-process.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import aio_pika

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.knowledge.embedders import chunk_window, embedder_from
from services.knowledge.embedding import Embedder, MiniLmEmbedder
from services.knowledge.ingest import IngestOptions, Ingestor
from services.knowledge.ingest_store import IngestStore
from services.knowledge.settings import KnowledgeSettings
from services.knowledge.tokens import minilm_token_counter
from services.knowledge.url_fetch import SafeFetcher
from services.runtime import logs
from services.runtime.bus import Bus, ConsumerSpec
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.quota import PlanQuota
from services.runtime.server import run_event_loop
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


def consumer_spec(settings: KnowledgeSettings) -> ConsumerSpec:
    """The ingestion queue's topology; the bus gets one delivery more than the pipeline's own attempt limit,
    so the pipeline always decides a document's failure (and marks it) before the bus dead-letters the job."""
    return ConsumerSpec(
        queue=settings.knowledge_queue,
        exchange=settings.knowledge_exchange,
        routing_keys=("document.added",),
        max_attempts=settings.knowledge_max_attempts + 1,
        backoff_seconds=settings.knowledge_backoff_seconds,
        prefetch=settings.knowledge_worker_prefetch,
    )


async def declare_queue(settings: KnowledgeSettings) -> None:
    """Declares the durable ingestion queue and its binding, so events published before any worker ran are kept."""
    spec = consumer_spec(settings)
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(spec.queue, durable=True)
        for key in spec.routing_keys:
            await queue.bind(exchange, routing_key=key)


class IngestWorker:
    """Composition root of the worker: database, broker, embedder (model loaded once), fetcher and storage quota."""

    def __init__(self, settings: KnowledgeSettings) -> None:
        self._settings = settings
        self._bus: Bus | None = None
        self._db: Database | None = None
        self._fetcher: SafeFetcher | None = None
        self._embedder: Embedder | None = None
        self._clients: Clients | None = None

    async def start(self) -> None:
        """Loads the model, connects and starts consuming."""
        s = self._settings
        embedder = embedder_from(s)
        if isinstance(embedder, MiniLmEmbedder):
            await embedder.load()
        self._embedder = embedder
        self._db = await Database.connect(s, "knowledge")
        self._fetcher = SafeFetcher(
            allow_private=s.knowledge_allow_private_urls,
            timeout_seconds=s.knowledge_fetch_timeout_seconds,
            max_bytes=s.knowledge_max_fetch_bytes,
        )
        options = IngestOptions(
            max_attempts=s.knowledge_max_attempts,
            batch_size=s.knowledge_embed_batch_size,
            max_chunk_tokens=chunk_window(embedder),
            delay_seconds=s.knowledge_embed_delay_seconds,
        )
        self._clients = Clients(s)
        storage = PlanQuota(
            tenant_pb2_grpc.TenantServiceStub(self._clients.channel("tenant")),
            ServiceTokens(s.resolved_internal_secret(), "knowledge"),
            tenant_pb2.LIMIT_KIND_STORAGE_BYTES,
            s.call_timeout_seconds,
        )
        ingestor = Ingestor(
            IngestStore(self._db), embedder, minilm_token_counter(), self._fetcher, options, storage_quota=storage
        )
        self._bus = await Bus.connect(s.amqp_url)
        await self._bus.consume(consumer_spec(s), ingestor.handle)
        log.info("ingestion worker consuming", extra={"queue": s.knowledge_queue})

    async def stop(self) -> None:
        """Stops consuming (unfinished jobs return to the queue) and closes everything."""
        if self._bus is not None:
            await self._bus.close()
        if self._fetcher is not None:
            await self._fetcher.aclose()
        if self._clients is not None:
            await self._clients.close()
        if self._embedder is not None:
            await self._embedder.aclose()
        if self._db is not None:
            await self._db.close()


async def _serve(settings: KnowledgeSettings) -> None:
    worker = IngestWorker(settings)
    await worker.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await worker.stop()


def main() -> None:
    """Runs the ingestion worker until SIGTERM."""
    settings = KnowledgeSettings()
    logs.configure("knowledge-worker", settings.log_level, settings.log_json)
    run_event_loop(_serve(settings), settings)


if __name__ == "__main__":
    main()
