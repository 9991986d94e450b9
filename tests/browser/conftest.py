"""Headless Chromium for the widget's browser tests, and the real platform for the end-to-end ones: every
runnable service, the knowledge worker, the full edge.

The services get their own free ports (not the session `settings` addresses), so this stack never
collides with the ones tests/services and tests/edge start in the same run. The chatbot service's
public base URL is the edge's own URL, so embed configs point the widget at the edge under test.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from avatarchat.auth.v1 import auth_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2_grpc
from services.cli.catalog import RUNNABLE_SERVICES
from services.cli.seed import DEMO_BOT_NAME, DEMO_FAQ, DEMO_GREETING, DEMO_KNOWLEDGE_BASE
from services.knowledge.worker import IngestWorker
from services.runtime.server import ServiceHost
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings
from services.runtime.tokens import ServiceTokens
from tests.conftest import channel_to, free_port
from tests.edge.conftest import edge_settings_for
from tests.edge.widget_harness import RunningFullEdge, serve_full_edge
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge, delete_topology, knowledge_settings

FAQ_TITLE = "avatarchat FAQ"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


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


async def _seed(stack: Stack, knowledge: Knowledge) -> tuple[Account, chatbot_pb2.Chatbot, knowledge_pb2.Document]:
    """What services/cli/seed.py seeds for `demo` (same bot, greeting and FAQ), in a fresh tenant.

    A fresh tenant rather than `demo` itself: tests/edge seeds `demo` in the same database without an
    ingestion worker, and the seed keeps an existing bot, so its FAQ could be stuck unprocessed.
    Allowed domain is 127.0.0.1 only, so a page on localhost is a refused origin.
    """
    account = await stack.new_tenant("e2e")
    base = await knowledge.new_kb(account, DEMO_KNOWLEDGE_BASE)
    added = await knowledge.upload(account, base.name, DEMO_FAQ.encode(), "text/markdown", "faq.md", FAQ_TITLE)
    document = await knowledge.wait(account, added.name)
    assert document.state == knowledge_pb2.DOCUMENT_STATE_READY, document
    bots = chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))
    created = await bots.CreateChatbot(
        chatbot_pb2.CreateChatbotRequest(
            parent=account.tenant,
            chatbot=chatbot_pb2.Chatbot(
                display_name=DEMO_BOT_NAME,
                knowledge_bases=[base.name],
                personality=chatbot_pb2.Personality(
                    greeting=DEMO_GREETING,
                    instructions="You are the friendly demo assistant of avatarchat. Answer briefly.",
                ),
                placement=chatbot_pb2.Placement(allowed_domains=["127.0.0.1"], show_on_mobile=True),
            ),
        ),
        metadata=account.metadata,
    )
    return account, created.chatbot, document


@pytest.fixture(scope="package")
async def platform(settings: RuntimeSettings) -> AsyncIterator[Platform]:
    """Every runnable service, an in-process ingestion worker and the assembled edge, seeded."""
    base = RuntimeSettings(
        **{**settings.model_dump(), "service_addresses": {n: f"127.0.0.1:{free_port()}" for n in SERVICE_PORTS}}
    )
    tag = uuid.uuid4().hex[:10]
    own_knowledge = knowledge_settings(base)
    edge_settings = edge_settings_for(
        base, socketio_channel=f"test-e2e-sio-{tag}", widget_key_prefix=f"test-e2e:{tag}", cors_origins=["*"]
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
        account, bot, document = await _seed(stack, knowledge)
        async with serve_full_edge(edge_settings) as edge:
            yield Platform(stack, edge, account, bot, document)
    finally:
        for channel in stack.channels.values():
            await channel.close()
        await worker.stop()
        for host in reversed(hosts):
            await host.stop(0.5)
        await delete_topology(own_knowledge)


def host_page(edge: str, embed_id: str) -> bytes:
    """A tenant's page with nothing but the embed snippet."""
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Tenant site</title></head>"
        "<body style='background:#f4f4f4'><h1>Tenant site</h1>"
        f'<script async src="{edge}/embed.js?id={embed_id}" data-embed-id="{embed_id}"></script>'
        "</body></html>"
    ).encode()


@dataclass
class HostSite:
    """The tenant's site on loopback; reachable as 127.0.0.1 (allowed) and localhost (not allowed)."""

    port: int
    pages: dict[str, bytes]

    def url(self, host: str, path: str = "/host") -> str:
        """The page's URL under `host`."""
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="package")
def host_site() -> Iterator[HostSite]:
    """Serves `pages` (filled by the tests' fixtures) from a thread."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Keeps test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HostSite(server.server_address[1], pages)
    finally:
        server.shutdown()
        server.server_close()
