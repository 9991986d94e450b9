"""Seeds the demo tenant and its demo bot (greeting, default avatar, a small knowledge base) through the RPCs.

Idempotent: an existing tenant is looked up, and a tenant that already has a chatbot gets no second one.
The bot may load on 127.0.0.1 and localhost (any port), so the edge's /demo page can embed it.
"""

from __future__ import annotations

import logging
import uuid

import grpc

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG, RUNNABLE_SERVICES
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)

DEMO_BOT_NAME = "Ava"
DEMO_GREETING = "Hi, I'm Ava, the avatarchat demo assistant. Ask me what avatarchat can do!"
DEMO_DOMAINS = ("127.0.0.1", "localhost")
DEMO_KNOWLEDGE_BASE = "avatarchat demo FAQ"
DEMO_FAQ = """# avatarchat FAQ

## What is avatarchat?
avatarchat lets a company embed AI chatbots with animated 3D avatars into its website with one script tag.

## How do I embed a chatbot?
Copy the embed snippet from the dashboard and paste it into your site's HTML. List your site's domain
in the chatbot's allowed domains, or the widget will not load there.

## Where do answers come from?
Answers are grounded in the documents of the chatbot's knowledge bases and cite them.

## Can I use my own avatar?
Yes: upload a .glb model; it is validated and optimised, and its animation clips are mapped to behaviours.
"""


async def seed_demo(settings: RuntimeSettings, slug: str = DEMO_SLUG) -> str:
    """Creates the demo tenant (`slug`) and demo bot unless they exist; returns what was seeded."""
    async with grpc.aio.insecure_channel(settings.address_of("tenant")) as channel:
        tenant = await _demo_tenant(tenant_pb2_grpc.TenantServiceStub(channel), slug)
    bot = await _demo_bot(settings, tenant)
    return f"{tenant} (demo bot {bot.name}, embed id {bot.embed_id})"


async def _demo_tenant(stub: tenant_pb2_grpc.TenantServiceAsyncStub, slug: str) -> str:
    try:
        found = await stub.LookupTenant(tenant_pb2.LookupTenantRequest(slug=slug), timeout=10)
        return found.name
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    created = await stub.CreateTenant(
        tenant_pb2.CreateTenantRequest(
            tenant=tenant_pb2.Tenant(slug=slug, display_name="Demo Company"),
            owner_email=DEMO_EMAIL,
            owner_password=DEMO_PASSWORD,
            owner_display_name="Demo Owner",
        ),
        timeout=30,
    )
    return created.tenant.name


async def _demo_bot(settings: RuntimeSettings, tenant: str) -> chatbot_pb2.Chatbot:
    """The tenant's first chatbot, or a new demo bot (the seed acts as a service for the demo tenant)."""
    tokens = ServiceTokens(settings.resolved_internal_secret(), "cli-seed")
    metadata = tokens.metadata(uuid.UUID(tenant.removeprefix("tenants/")))
    async with grpc.aio.insecure_channel(settings.address_of("chatbot")) as channel:
        bots = chatbot_pb2_grpc.ChatbotServiceStub(channel)
        existing = await bots.ListChatbots(
            chatbot_pb2.ListChatbotsRequest(parent=tenant), metadata=metadata, timeout=10
        )
        if existing.chatbots:
            return existing.chatbots[0]
        knowledge = await _demo_knowledge(settings, tenant, metadata)
        created = await bots.CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(
                parent=tenant,
                chatbot=chatbot_pb2.Chatbot(
                    display_name=DEMO_BOT_NAME,
                    avatar="",  # the platform's default avatar
                    knowledge_bases=knowledge,
                    personality=chatbot_pb2.Personality(
                        greeting=DEMO_GREETING,
                        instructions="You are the friendly demo assistant of avatarchat. Answer briefly.",
                    ),
                    placement=chatbot_pb2.Placement(allowed_domains=list(DEMO_DOMAINS), show_on_mobile=True),
                ),
            ),
            metadata=metadata,
            timeout=30,
        )
        return created.chatbot


async def _demo_knowledge(settings: RuntimeSettings, tenant: str, metadata: tuple[tuple[str, str], ...]) -> list[str]:
    """A knowledge base with the FAQ document, when the knowledge service runs; none otherwise."""
    if "knowledge" not in RUNNABLE_SERVICES:
        return []
    try:
        async with grpc.aio.insecure_channel(settings.address_of("knowledge")) as channel:
            stub = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
            base = await stub.CreateKnowledgeBase(
                knowledge_pb2.CreateKnowledgeBaseRequest(
                    parent=tenant,
                    knowledge_base=knowledge_pb2.KnowledgeBase(
                        display_name=DEMO_KNOWLEDGE_BASE, description="What the demo bot knows about avatarchat."
                    ),
                ),
                metadata=metadata,
                timeout=30,
            )
            await stub.AddDocument(
                knowledge_pb2.AddDocumentRequest(
                    parent=base.knowledge_base.name,
                    document=knowledge_pb2.Document(
                        title="avatarchat FAQ",
                        upload=knowledge_pb2.DocumentUpload(
                            content=DEMO_FAQ.encode(), mime_type="text/markdown", filename="faq.md"
                        ),
                    ),
                ),
                metadata=metadata,
                timeout=60,
            )
            return [base.knowledge_base.name]
    except grpc.aio.AioRpcError as exc:
        # The bot is still useful without knowledge (it answers with its fallback); say why it has none.
        log.warning("demo knowledge base not created: %s %s", exc.code().name, exc.details())
        return []
