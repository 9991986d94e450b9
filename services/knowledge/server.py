"""Composition root of the knowledge service (the ingestion worker's is worker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.knowledge.embedders import chunk_window, embedder_from
from services.knowledge.hybrid_search import Retriever
from services.knowledge.search_store import SearchStore
from services.knowledge.servicer import KnowledgeServicer
from services.knowledge.settings import KnowledgeSettings
from services.knowledge.store import IngestEvent, KnowledgeStore
from services.knowledge.tokens import minilm_token_counter
from services.knowledge.worker import declare_queue
from services.runtime.bus import Bus
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.outbox import OutboxRelay
from services.runtime.pagination import PageTokens
from services.runtime.quota import PlanQuota
from services.runtime.remote_auth import remote_authenticator
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)
NAME = "knowledge"
SETTINGS = KnowledgeSettings


async def build(settings: KnowledgeSettings, *, port: int | None = None) -> ServiceHost:
    """Opens the database, broker and clients, starts the outbox relay and wires the servicer."""
    secret = settings.resolved_internal_secret()
    tokens = ServiceTokens(secret, NAME)
    db = await Database.connect(settings, NAME)
    await declare_queue(settings)
    bus = await Bus.connect(settings.amqp_url)
    relay = OutboxRelay(db, bus, NAME, poll_seconds=settings.outbox_poll_seconds)
    await relay.start()
    clients = Clients(settings)
    embedder = embedder_from(settings)
    # Load the model in the background: the service answers health checks at once, and the first search
    # after start-up does not pay the model's load time (seconds) against its caller's deadline.
    warm_up = asyncio.create_task(_warm_up(embedder), name="knowledge-embedder-warm-up")
    search_store = SearchStore(db, settings.knowledge_hnsw_ef_search)
    tenant = tenant_pb2_grpc.TenantServiceStub(clients.channel("tenant"))
    quota = PlanQuota(tenant, tokens, tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS, settings.call_timeout_seconds)
    storage_quota = PlanQuota(tenant, tokens, tenant_pb2.LIMIT_KIND_STORAGE_BYTES, settings.call_timeout_seconds)
    servicer = KnowledgeServicer(
        KnowledgeStore(db),
        search_store=search_store,
        retriever=Retriever(search_store, embedder),
        embedder=embedder,
        counter=minilm_token_counter(),
        quota=quota,
        storage_quota=storage_quota,
        page_tokens=PageTokens(secret),
        event=IngestEvent(settings.knowledge_exchange),
        chunk_window=chunk_window(embedder),
    )
    service = HostedService(
        knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"],
        lambda server: knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)
    host.closers += [_cancel(warm_up), clients.close, embedder.aclose, db.close, bus.close, relay.stop]
    return host


async def _warm_up(embedder: object) -> None:
    load = getattr(embedder, "load", None)
    if load is not None:
        try:
            await load()
        except Exception:  # the first search reports the real error to its caller
            log.warning("embedding model warm-up failed", exc_info=True)


def _cancel(task: asyncio.Task[None]) -> Callable[[], Awaitable[None]]:
    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return cancel


def main() -> None:
    """Runs the knowledge service until SIGTERM."""
    run(NAME, build, KnowledgeSettings())
