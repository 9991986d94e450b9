"""Composition root of the chatbot service."""

from __future__ import annotations

from avatarchat.avatar.v1 import avatar_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.chatbot.avatar_directory import AvatarDirectory
from services.chatbot.embeds import Embeds
from services.chatbot.lifecycle import ChatbotLifecycle
from services.chatbot.servicer import ChatbotServicer
from services.chatbot.settings import ChatbotSettings
from services.chatbot.store import ChatbotStore
from services.chatbot.tenant_directory import TenantDirectory
from services.chatbot.visitor_identity import SecretBox
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.pagination import PageTokens
from services.runtime.quota import PlanQuota
from services.runtime.remote_auth import remote_authenticator
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens

NAME = "chatbot"
SETTINGS = ChatbotSettings


async def build(settings: ChatbotSettings, *, port: int | None = None) -> ServiceHost:
    """Opens the database and clients and wires the servicer; the host is not started yet."""
    secret = settings.resolved_internal_secret()
    tokens = ServiceTokens(secret, NAME)
    box = SecretBox.from_settings(settings.chatbot_visitor_secret_key, secret)
    db = await Database.connect(settings, NAME)
    clients = Clients(settings)
    store = ChatbotStore(db)
    timeout = settings.chatbot_dependency_timeout_seconds
    tenant_stub = tenant_pb2_grpc.TenantServiceStub(clients.channel("tenant"))
    tenants = TenantDirectory(tenant_stub, tokens, timeout)
    avatars = AvatarDirectory(avatar_pb2_grpc.AvatarServiceStub(clients.channel("avatar")), tokens, timeout)
    embeds = Embeds(store, avatars, tenants, box, public_base_url=settings.public_base_url)
    servicer = ChatbotServicer(
        store,
        lifecycle=ChatbotLifecycle(store, PlanQuota(tenant_stub, tokens, tenant_pb2.LIMIT_KIND_CHATBOTS, timeout)),
        embeds=embeds,
        avatars=avatars,
        box=box,
        page_tokens=PageTokens(secret),
        public_base_url=settings.public_base_url,
    )
    service = HostedService(
        chatbot_pb2.DESCRIPTOR.services_by_name["ChatbotService"],
        lambda server: chatbot_pb2_grpc.add_ChatbotServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)
    host.closers += [clients.close, db.close]
    return host


def main() -> None:
    """Runs the chatbot service until SIGTERM."""
    run(NAME, build, ChatbotSettings())
