"""Fixtures for the AI domain: wire-format servers on loopback, requests, and the embedders to test with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from services.ai.hashed_words import HashedWordsEmbedder
from services.ai.passages import Passage
from services.ai.providers.base import (
    AnswerContext,
    ChatMessage,
    GenerationRequest,
    Provider,
    ProviderEvent,
    TextDelta,
)
from services.ai.similarity import TextEmbedder
from services.knowledge.minilm import MiniLmEmbedder
from tests.services.ai.wire import Handler, WireServer

StartServer = Callable[[Handler], Awaitable[WireServer]]
E = TypeVar("E", bound=BaseException)


@pytest.fixture
async def serve() -> AsyncIterator[StartServer]:
    """Starts wire servers for a test and closes them after it."""
    servers: list[WireServer] = []

    async def start(handler: Handler) -> WireServer:
        server = WireServer(handler)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


def make_request(question: str = "When do you open?", passages: tuple[Passage, ...] = ()) -> GenerationRequest:
    """A small request as prompt.build_request would make it."""
    return GenerationRequest(
        system="You are Ava. Answer from the passages.",
        messages=(ChatMessage("user", question),),
        context=AnswerContext(question=question, passages=passages, bot_name="Ava"),
        max_output_tokens=200,
    )


async def answer_of(provider: Provider) -> list[ProviderEvent]:
    """Every event of the provider's answer to make_request(); the provider is closed after."""
    try:
        return [event async for event in provider.stream(make_request())]
    finally:
        await provider.aclose()


async def failure_of(provider: Provider, error: type[E]) -> E:
    """The `error` the provider's answer to make_request() raises; the provider is closed after."""
    with pytest.raises(error) as caught:
        await answer_of(provider)
    return caught.value


async def assert_arrives_piece_by_piece(provider: Provider, server: WireServer, gate: asyncio.Event) -> None:
    """Streams "first " then "second" from a server holding everything after the first piece until `gate` opens."""
    answer = provider.stream(make_request())
    # A buffering client would hang here.
    first = await asyncio.wait_for(anext(answer), 5)
    assert first == TextDelta("first ")
    assert not server.exchanges[0].finished
    gate.set()
    rest = [e async for e in answer]
    await provider.aclose()
    assert rest[0] == TextDelta("second")
    assert server.exchanges[0].finished


@pytest.fixture(scope="session")
def minilm() -> TextEmbedder:
    """The knowledge service's sentence embedder, which places texts by meaning."""
    return MiniLmEmbedder()


@pytest.fixture(scope="session", params=["minilm", "hashed-words"])
def embedder(request: pytest.FixtureRequest, minilm: TextEmbedder) -> TextEmbedder:
    """Each real embedder the intent classifier is tested with."""
    return HashedWordsEmbedder() if request.param == "hashed-words" else minilm
