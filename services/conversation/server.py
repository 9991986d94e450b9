"""Composition root of the conversation service."""

from __future__ import annotations

import logging

from avatarchat.ai.v1 import ai_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2_grpc
from services.conversation.dependencies import Dependencies
from services.conversation.relay import MessageRelay
from services.conversation.servicer import ConversationServicer
from services.conversation.settings import ConversationSettings
from services.conversation.store import SCHEMA, ConversationStore
from services.runtime.bus import Bus
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.outbox import OutboxRelay
from services.runtime.pagination import PageTokens
from services.runtime.remote_auth import remote_authenticator
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens

NAME = "conversation"
SETTINGS = ConversationSettings
log = logging.getLogger(__name__)


async def build(settings: ConversationSettings, *, port: int | None = None) -> ServiceHost:
    """Opens the database, broker and clients and wires the servicer; the host is not started yet."""
    secret = settings.resolved_internal_secret()
    tokens = ServiceTokens(secret, NAME)
    db = await Database.connect(settings, NAME)
    clients = Clients(settings)
    store = ConversationStore(db)
    deps = Dependencies(
        # Every call below passes its own credential, deadline and request id: no interceptor task per call.
        tenant_pb2_grpc.TenantServiceStub(clients.channel("tenant", propagate=False)),
        chatbot_pb2_grpc.ChatbotServiceStub(clients.channel("chatbot", propagate=False)),
        ai_pb2_grpc.AiServiceStub(clients.channel("ai", propagate=False)),
        tokens,
        timeout=settings.conversation_dependency_timeout_seconds,
    )
    relay = MessageRelay(
        store,
        deps,
        history_turns=settings.conversation_history_turns,
        remembered_conversations=settings.conversation_remembered_conversations,
        remembered_chars=settings.conversation_remembered_chars,
    )
    servicer = ConversationServicer(store, relay, deps, PageTokens(secret))
    service = HostedService(
        conversation_pb2.DESCRIPTOR.services_by_name["ConversationService"],
        lambda server: conversation_pb2_grpc.add_ConversationServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)
    # Closed last to first: answers still being stored, then the leased quota given back, then the channels and
    # the database both of those need.
    host.closers += [db.close, clients.close, deps.close, relay.close]
    if settings.conversation_events_enabled:
        try:
            bus = await Bus.connect(settings.amqp_url)
        except Exception:
            # Events wait in the outbox table; the next start relays them.
            log.warning("RabbitMQ unavailable; domain events stay in the outbox", exc_info=True)
        else:
            outbox = OutboxRelay(db, bus, SCHEMA, poll_seconds=settings.outbox_poll_seconds)
            await outbox.start()
            store.events_recorded = outbox.wake
            host.closers += [bus.close, outbox.stop]
    return host


def main() -> None:
    """Runs the conversation service until SIGTERM."""
    run(NAME, build, ConversationSettings())
