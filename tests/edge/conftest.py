"""The edge served for real by uvicorn on a free port, in front of the running services.

`stack` here is package-scoped: importing the session-scoped one from tests/services would make a
second session instance of it in a full run, binding the same ports twice. This one reuses the
services when they already serve (tests/services ran first) and otherwise starts them and stops
them when tests/edge is done, before tests/services starts its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from avatarchat.auth.v1 import auth_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2_grpc
from edge.app import create_app
from edge.listener import server_config
from edge.settings import EdgeSettings
from services.cli.catalog import RUNNABLE_SERVICES
from services.cli.health import check
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import ServiceTokens
from tests.conftest import channel_to, free_port
from tests.edge.widget_harness import (
    Bot,
    FakeConversations,
    RunningFullEdge,
    create_widget_bot,
    serve_fake_conversations,
    serve_full_edge,
)
from tests.services.conftest import Account, Stack, start_services


@pytest.fixture(scope="package")
async def stack(settings: RuntimeSettings) -> AsyncIterator[Stack]:
    """The runnable services (started here unless already serving), as tests/services/conftest.py builds them."""
    serving = await check(settings.address_of("tenant"), rpc_seconds=0.5) == "SERVING"
    hosts = [] if serving else await start_services(settings, RUNNABLE_SERVICES)
    channels = {name: channel_to(settings, name) for name in ("auth", "tenant")}
    running = Stack(
        settings=settings,
        auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
        tenant=tenant_pb2_grpc.TenantServiceStub(channels["tenant"]),
        operator=ServiceTokens(settings.resolved_internal_secret(), "test-operator"),
        channels=channels,
    )
    yield running
    for channel in running.channels.values():
        await channel.close()
    for host in reversed(hosts):
        await host.stop(0.5)


@dataclass
class RunningEdge:
    """An edge listening on loopback, and an HTTP client pointed at it."""

    url: str
    settings: EdgeSettings
    http: httpx.AsyncClient

    @staticmethod
    def bearer(account: Account) -> dict[str, str]:
        """Headers that authenticate as the account's owner."""
        return {"authorization": f"Bearer {account.access_token}"}


def edge_settings_for(base: RuntimeSettings, **overrides: Any) -> EdgeSettings:
    """Edge settings for the test stack: its addresses and secret, a free port, its own rate-limit keys."""
    addresses: Mapping[str, str] = overrides.pop("service_addresses", {})
    values: dict[str, Any] = {
        **base.model_dump(),
        "service_addresses": {**base.service_addresses, **addresses},
        "http_port": free_port(),
        "rate_limit_key_prefix": f"test-edge:{uuid.uuid4().hex}",
        "rate_limit_user": 100_000,
        "rate_limit_api_key": 100_000,
        "rate_limit_anonymous": 100_000,
        "rate_limit_address": 100_000,
        "cors_origins": ["https://dashboard.example"],
    }
    return EdgeSettings(**{**values, **overrides})


@asynccontextmanager
async def serve_edge(settings: EdgeSettings) -> AsyncIterator[RunningEdge]:
    """Runs `create_app(settings)` under uvicorn (lifespan included) until the block ends."""
    config = server_config(create_app(settings), settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError("the edge did not start")
    url = f"http://127.0.0.1:{settings.http_port}"
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        try:
            yield RunningEdge(url, settings, http)
        finally:
            server.should_exit = True
            await task


@pytest.fixture(scope="package")
async def edge(stack: Stack) -> AsyncIterator[RunningEdge]:
    """The edge in front of the running services, with limits too high to matter."""
    async with serve_edge(edge_settings_for(stack.settings)) as running:
        yield running


@pytest.fixture(scope="package")
async def fake_conversations() -> AsyncIterator[tuple[FakeConversations, str]]:
    """ConversationService by its contract (services/conversation is built elsewhere), and its address."""
    # Paced so that a reconnect to another edge lands mid-answer even on a loaded 2-core CI machine.
    fake = FakeConversations(delta_delay=0.05)
    async with serve_fake_conversations(fake) as address:
        yield fake, address


def widget_edge_settings(stack: Stack, conversation_address: str, channel: str, prefix: str) -> EdgeSettings:
    """Settings of an edge serving the widget against the stack, talking to `conversation_address`."""
    return edge_settings_for(
        stack.settings,
        service_addresses={"conversation": conversation_address},
        socketio_channel=channel,
        widget_key_prefix=prefix,
        widget_message_limit=5,
        presence_ttl_seconds=6,
    )


@pytest.fixture(scope="package")
async def widget_edges(
    stack: Stack, fake_conversations: tuple[FakeConversations, str]
) -> AsyncIterator[tuple[RunningFullEdge, RunningFullEdge]]:
    """Two full edges (REST + Socket.io) sharing one Redis channel and key prefix, like two pods."""
    channel, prefix = f"test-sio-{uuid.uuid4().hex}", f"test-widget:{uuid.uuid4().hex}"
    address = fake_conversations[1]
    async with (
        serve_full_edge(widget_edge_settings(stack, address, channel, prefix)) as first,
        serve_full_edge(widget_edge_settings(stack, address, channel, prefix)) as second,
    ):
        yield first, second


@pytest.fixture(scope="package")
async def widget_edge(widget_edges: tuple[RunningFullEdge, RunningFullEdge]) -> RunningFullEdge:
    """The first of the two widget edges."""
    return widget_edges[0]


@pytest.fixture(scope="package")
async def widget_bot(stack: Stack) -> Bot:
    """A chatbot allowed on the widget test origin, with a visitor secret."""
    return await create_widget_bot(stack, await stack.new_tenant("widget"))
