"""A second AI + conversation pair for tests that need a local provider server or a stand-in knowledge service.

The stack's own AI service has no cloud providers configured (offline only). Provider base URLs are platform
settings (AVATARCHAT_AI_PROVIDERS), so tests that talk to a local OpenAI/Anthropic wire server build their own
AI and conversation hosts whose settings point there, next to the stack's auth, tenant and chatbot services.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from avatarchat.ai.v1 import ai_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.runtime.server import ServiceHost
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.ai.wire import Exchange, Handler, Responder, WireServer
from tests.services.ai.wire_formats import openai_error
from tests.services.conftest import Stack

PLATFORM_KEY = "sk-platform-secret-key-0123456789"


class Gateway:
    """One local HTTP server answering as OpenAI under /openai and as Anthropic under /anthropic."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.server = WireServer(self._dispatch)

    async def _dispatch(self, exchange: Exchange, respond: Responder) -> None:
        vendor = exchange.path.strip("/").split("/", 1)[0]
        handler = self.routes.get(vendor, openai_error(503, "no handler set", "server_error"))
        await handler(exchange, respond)

    def exchanges(self, vendor: str) -> list[Exchange]:
        """Requests that reached one vendor's routes."""
        return [e for e in self.server.exchanges if e.path.startswith(f"/{vendor}/")]


class StandInKnowledge(knowledge_pb2_grpc.KnowledgeServiceServicer):
    """Answers Search from a fixed table of chunks per knowledge base (for tests independent of ingestion)."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[knowledge_pb2.SearchResult]] = {}
        self.versions: dict[str, int] = {}
        self.searches = 0

    async def Search(self, request: knowledge_pb2.SearchRequest, context: Any) -> knowledge_pb2.SearchResponse:
        """The stored chunks of the requested knowledge bases whose words overlap the query."""
        self.searches += 1
        words = {w.strip("?.,!").lower() for w in request.query.split()}
        results = [
            chunk
            for kb in request.knowledge_bases
            for chunk in self.chunks.get(kb, [])
            if words & {w.strip("?.,!").lower() for w in chunk.text.split()}
        ]
        return knowledge_pb2.SearchResponse(
            results=results[: request.top_k or 5],
            knowledge_versions={kb: self.versions.get(kb, 1) for kb in request.knowledge_bases},
        )


@dataclass
class LocalPlatform:
    """The extra hosts, their clients and the servers they talk to."""

    gateway: Gateway
    knowledge: StandInKnowledge
    ai: ai_pb2_grpc.AiServiceAsyncStub
    conversations: conversation_pb2_grpc.ConversationServiceAsyncStub
    hosts: list[ServiceHost] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    """The settings the hosts were built from."""


def provider_settings(gateway_url: str) -> list[dict[str, str]]:
    """OpenAI and Anthropic pointed at the gateway with a platform-wide key."""
    return [
        {
            "id": "openai",
            "api_key": PLATFORM_KEY,
            "base_url": f"{gateway_url}/openai/v1",
            "default_model": "gpt-4.1-mini",
        },
        {
            "id": "anthropic",
            "api_key": PLATFORM_KEY,
            "base_url": f"{gateway_url}/anthropic",
            "default_model": "claude-haiku-4-5",
        },
    ]


async def start_local_platform(
    settings: RuntimeSettings, names: Sequence[str] = ("ai", "conversation"), **overrides: Any
) -> LocalPlatform:
    """Starts the gateway, the stand-in knowledge service and fresh AI and conversation hosts wired to them.

    `overrides` replace settings of the hosts, e.g. a longer provider read timeout.
    """
    gateway = Gateway()
    await gateway.server.start()
    knowledge = StandInKnowledge()  # type: ignore[abstract]  # only Search is served
    knowledge_server = grpc.aio.server()
    knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(knowledge, knowledge_server)
    knowledge_port = knowledge_server.add_insecure_port("127.0.0.1:0")
    await knowledge_server.start()
    values = settings.model_dump()
    addresses = dict(values["service_addresses"])
    addresses.update({"knowledge": f"127.0.0.1:{knowledge_port}", "ai": f"127.0.0.1:{free_port()}"})
    addresses["conversation"] = f"127.0.0.1:{free_port()}"
    values.update(
        service_addresses=addresses,
        ai_providers=provider_settings(gateway.server.url),
        ai_offline_pace_seconds=0.0,
        ai_first_token_timeout_seconds=3.0,
        conversation_events_enabled=False,
        # The local model servers are on loopback, as an operator's own would be on its network.
        ai_allow_private_base_urls=True,
    )
    values.update(overrides)
    hosts = []
    for name in names:
        module = importlib.import_module(f"services.{name}.server")
        own = module.SETTINGS(**values)
        host = await module.build(own, port=own.port_of(name))
        await host.start()
        hosts.append(host)
    ai_channel = grpc.aio.insecure_channel(addresses["ai"])
    conversation_channel = grpc.aio.insecure_channel(addresses["conversation"])
    platform = LocalPlatform(
        gateway=gateway,
        knowledge=knowledge,
        ai=ai_pb2_grpc.AiServiceStub(ai_channel),
        conversations=conversation_pb2_grpc.ConversationServiceStub(conversation_channel),
        hosts=hosts,
        values=values,
    )
    platform.closers = [ai_channel.close, conversation_channel.close, lambda: knowledge_server.stop(0.2)]
    return platform


@asynccontextmanager
async def conversation_replica(
    platform: LocalPlatform,
) -> AsyncIterator[conversation_pb2_grpc.ConversationServiceAsyncStub]:
    """A second conversation host of the platform (same database, same AI service), as a scaled-out deployment has."""
    module = importlib.import_module("services.conversation.server")
    addresses = {**platform.values["service_addresses"], "conversation": f"127.0.0.1:{free_port()}"}
    own = module.SETTINGS(**{**platform.values, "service_addresses": addresses})
    host = await module.build(own, port=own.port_of("conversation"))
    await host.start()
    try:
        async with grpc.aio.insecure_channel(addresses["conversation"]) as channel:
            yield conversation_pb2_grpc.ConversationServiceStub(channel)
    finally:
        await host.stop(0.5)


async def stop_local_platform(platform: LocalPlatform) -> None:
    """Stops everything start_local_platform started."""
    for close in platform.closers:
        await close()
    for host in reversed(platform.hosts):
        await host.stop(0.5)
    await platform.gateway.server.close()


@pytest.fixture(scope="session")
async def local(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[LocalPlatform]:
    """AI and conversation hosts wired to the provider gateway and the stand-in knowledge service."""
    platform = await start_local_platform(settings)
    yield platform
    await stop_local_platform(platform)


@pytest.fixture(autouse=True)
def _clear_routes(request: pytest.FixtureRequest) -> None:
    """Each test sets the provider behaviour it needs (only when the local platform is in use)."""
    if "local" in request.fixturenames:
        request.getfixturevalue("local").gateway.routes.clear()
