"""Headless Chromium for the widget's browser tests, and the real platform for the end-to-end ones: every
runnable service, the knowledge worker, the full edge.

The services get their own free ports (not the session `settings` addresses), so this stack never
collides with the ones tests/services and tests/edge start in the same run. The chatbot service's
public base URL is the edge's own URL, so embed configs point the widget at the edge under test.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from avatarchat.auth.v1 import auth_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.avatar.preview import CHROMIUM_ARGS, DEFAULT_CHROMIUM
from services.cli.catalog import DEMO_EMAIL, DEMO_PASSWORD, RUNNABLE_SERVICES
from services.cli.seed import seed_demo
from services.knowledge.worker import IngestWorker
from services.runtime.server import ServiceHost
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings
from services.runtime.tokens import ServiceTokens
from tests.conftest import channel_to, free_port, unique_slug
from tests.edge.conftest import edge_settings_for
from tests.edge.widget_harness import RunningFullEdge, serve_full_edge
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge, delete_topology, knowledge_settings

FAQ_TITLE = "avatarchat FAQ"
#: Debian's Chromium with the avatar previews' flags (a closed network, WebGL on SwiftShader).
CHROMIUM = DEFAULT_CHROMIUM
ARGS = list(CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Synchronous Playwright for the widget tests against the scripted edge."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, WebGL on SwiftShader."""
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (empty localStorage) whose page must end without uncaught script errors."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda error: errors.append(str(error)))
    yield p
    context.close()
    assert errors == []


@dataclass
class Platform:
    """The running stack, its edge, and the demo-like tenant with its bot and ingested FAQ."""

    stack: Stack
    edge: RunningFullEdge
    account: Account
    bot: chatbot_pb2.Chatbot
    document: knowledge_pb2.Document

    def edge_http(self) -> httpx.AsyncClient:
        """An HTTP client of the edge (close it: `async with`)."""
        return httpx.AsyncClient(base_url=self.edge.url, timeout=30.0)


async def _start_services(base: RuntimeSettings, overrides: dict[str, dict[str, Any]]) -> list[ServiceHost]:
    """As tests/services/conftest.py start_services, with per-service setting overrides."""
    hosts: list[ServiceHost] = []
    for name in RUNNABLE_SERVICES:
        module = importlib.import_module(f"services.{name}.server")
        own = module.SETTINGS(**{**base.model_dump(), **overrides.get(name, {})})
        host = await module.build(own, port=base.port_of(name))
        await host.start()
        hosts.append(host)
    return hosts


async def _seed(
    stack: Stack, knowledge: Knowledge, slug: str
) -> tuple[Account, chatbot_pb2.Chatbot, knowledge_pb2.Document]:
    """`avatarchat seed`'s own seeding (services/cli/seed.py) of the demo tenant, under a fresh slug.

    A fresh slug rather than `demo` itself: tests/edge seeds `demo` in the same database without an
    ingestion worker, and the seed keeps a bot it finds, so that FAQ could be stuck unprocessed here.
    """
    await seed_demo(stack.settings, slug)
    tokens = (await stack.login(slug, DEMO_EMAIL, DEMO_PASSWORD)).tokens
    tenant = (await stack.tenant.LookupTenant(tenant_pb2.LookupTenantRequest(slug=slug))).name
    account = Account(
        tenant=tenant,
        tenant_id=uuid.UUID(tenant.removeprefix("tenants/")),
        slug=slug,
        owner="",
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
    )
    bots = chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))
    [bot] = (
        await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=tenant), metadata=account.metadata)
    ).chatbots
    [base] = bot.knowledge_bases
    listed = await knowledge.stub.ListDocuments(
        knowledge_pb2.ListDocumentsRequest(parent=base), metadata=account.metadata
    )
    [faq] = listed.documents
    document = await knowledge.wait(account, faq.name)
    assert document.state == knowledge_pb2.DOCUMENT_STATE_READY, document
    return account, bot, document


@pytest.fixture(scope="package")
async def platform(settings: RuntimeSettings) -> AsyncIterator[Platform]:
    """Every runnable service, an ingestion worker and the assembled edge, whose /demo embeds the seeded bot."""
    base = RuntimeSettings(
        **{**settings.model_dump(), "service_addresses": {n: f"127.0.0.1:{free_port()}" for n in SERVICE_PORTS}}
    )
    tag = uuid.uuid4().hex[:10]
    slug = unique_slug("demo")
    own_knowledge = knowledge_settings(base)
    edge_settings = edge_settings_for(
        base,
        socketio_channel=f"test-e2e-sio-{tag}",
        widget_key_prefix=f"test-e2e:{tag}",
        cors_origins=["*"],
        demo_tenant_slug=slug,
    )
    edge_url = f"http://127.0.0.1:{edge_settings.http_port}"
    overrides: dict[str, dict[str, Any]] = {
        "chatbot": {"public_base_url": edge_url},
        "knowledge": own_knowledge.model_dump(),
        # Previews render in Chromium; the widget needs only the model, so no job consumers here.
        "avatar": {"avatar_jobs_enabled": False, "avatar_queue_prefix": f"test-e2e-{tag}"},
    }
    hosts = await _start_services(base, overrides)
    worker = IngestWorker(own_knowledge)
    await worker.start()
    channels = {name: channel_to(base, name) for name in ("auth", "tenant")}
    stack = Stack(
        settings=base,
        auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
        tenant=tenant_pb2_grpc.TenantServiceStub(channels["tenant"]),
        operator=ServiceTokens(base.resolved_internal_secret(), "test-operator"),
        channels=channels,
    )
    try:
        knowledge = Knowledge(knowledge_pb2_grpc.KnowledgeServiceStub(stack.channel("knowledge")), own_knowledge)
        account, bot, document = await _seed(stack, knowledge, slug)
        async with serve_full_edge(edge_settings) as edge:
            yield Platform(stack, edge, account, bot, document)
    finally:
        for channel in stack.channels.values():
            await channel.close()
        await worker.stop()
        for host in reversed(hosts):
            await host.stop(0.5)
        await delete_topology(own_knowledge)
