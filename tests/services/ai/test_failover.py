"""The failover chain over real providers talking to local wire-format servers."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import SecretStr

from avatarchat.chatbot.v1 import chatbot_pb2
from services.ai.failover import Attempt, FailoverEvent, StreamFailed, provider_chain, stream_with_failover
from services.ai.passages import Passage
from services.ai.providers.anthropic_provider import AnthropicProvider
from services.ai.providers.base import FinishReason, Provider, ProviderConfig, TextDelta, UsageReport
from services.ai.providers.errors import AllProvidersFailed
from services.ai.providers.offline import OfflineConfig, OfflineProvider
from services.ai.providers.openai_provider import OpenAIProvider
from tests.services.ai.conftest import StartServer, make_request
from tests.services.ai.wire import Exchange, Responder
from tests.services.ai.wire_formats import anthropic_stream, openai_error, openai_stream

PASSAGES = (Passage(1, "Our shop opens at 9am on weekdays and at 10am on Saturdays.", title="Hours"),)


def openai_at(url: str) -> OpenAIProvider:
    return OpenAIProvider(
        ProviderConfig(id="openai", api_key=SecretStr("sk-a"), base_url=f"{url}/v1", default_model="m")
    )


def anthropic_at(url: str) -> AnthropicProvider:
    config = ProviderConfig(id="anthropic", api_key=SecretStr("sk-b"), base_url=url, default_model="claude-haiku-4-5")
    return AnthropicProvider(config)


async def run(attempts: list[Attempt], question: str = "When do you open?") -> list[FailoverEvent]:
    request = make_request(question, PASSAGES)
    try:
        return [e async for e in stream_with_failover(request, attempts)]
    finally:
        for attempt in attempts:
            await attempt.provider.aclose()


def text_of(events: list[FailoverEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_failure_before_the_first_token_fails_over_to_the_next_provider(serve: StartServer) -> None:
    broken = await serve(openai_error(500, "The server had an error", "server_error"))
    working = await serve(anthropic_stream(["We open ", "at 9 [1]."], input_tokens=31, output_tokens=7))
    events = await run([Attempt(openai_at(broken.url)), Attempt(anthropic_at(working.url))])

    assert text_of(events) == "We open at 9 [1]."
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert (usage.provider, usage.input_tokens, usage.output_tokens) == ("anthropic", 31, 7)
    assert usage.first_token_latency is not None
    assert usage.first_token_latency > 0
    assert len(broken.exchanges) == 1
    assert len(working.exchanges) == 1


async def test_a_failure_after_the_first_token_ends_with_the_partial_text(serve: StartServer) -> None:
    breaking = await serve(openai_stream(["We open ", "at 9 ", "lost"], break_after=2))
    standby = await serve(anthropic_stream(["never used"]))
    events = await run([Attempt(openai_at(breaking.url)), Attempt(anthropic_at(standby.url))])

    assert events[:-1] == [TextDelta("We open "), TextDelta("at 9 ")]
    failed = events[-1]
    assert isinstance(failed, StreamFailed)
    assert failed.partial_text == "We open at 9 "
    assert (failed.provider, failed.code, failed.reason) == ("openai", "UNAVAILABLE", "PROVIDER_MALFORMED_STREAM")
    assert "unreadable" not in failed.message  # provider details stay in the logs
    assert standby.exchanges == []  # a second answer must not start over text the visitor already has


async def test_the_offline_provider_answers_when_every_cloud_provider_fails(serve: StartServer) -> None:
    limited = await serve(openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded"))
    offline = OfflineProvider(OfflineConfig(pace_seconds=0))
    chain = provider_chain(
        [chatbot_pb2.ProviderPreference(provider="openai", model="gpt-4.1-mini")],
        {"openai": openai_at(limited.url)},
        offline,
    )
    events = await run(chain, "When does the shop open on Saturdays?")
    assert "[1]" in text_of(events)
    assert "10am" in text_of(events)
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.provider == "offline"


async def test_all_providers_failing_raises_with_every_failure(serve: StartServer) -> None:
    first = await serve(openai_error(500, "boom", "server_error"))
    second = await serve(openai_error(401, "bad key", "invalid_request_error", "invalid_api_key"))
    with pytest.raises(AllProvidersFailed) as caught:
        await run([Attempt(openai_at(first.url)), Attempt(openai_at(second.url))])
    assert [f.reason for f in caught.value.failures] == ["PROVIDER_UNAVAILABLE", "PROVIDER_AUTH_FAILED"]


async def test_no_first_token_in_time_fails_over(serve: StartServer) -> None:
    async def silent(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        await exchange.closed_by_client.wait()

    stuck = await serve(silent)
    offline = OfflineProvider(OfflineConfig(pace_seconds=0))
    request = make_request("When do you open?", PASSAGES)
    provider = openai_at(stuck.url)
    attempts = [Attempt(provider), Attempt(offline)]
    events = [e async for e in stream_with_failover(request, attempts, first_token_timeout=0.3)]
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.provider == "offline"
    # Closed by the failover itself: closing the provider's client below would close it anyway.
    await asyncio.wait_for(stuck.exchanges[0].closed_by_client.wait(), 2)
    await provider.aclose()


async def test_the_chain_skips_unconfigured_providers_and_ends_with_offline_once() -> None:
    offline = OfflineProvider()
    openai = openai_at("http://127.0.0.1:9")  # never called
    preferences = [
        chatbot_pb2.ProviderPreference(provider="gemini", model="gemini-2.5-flash"),
        chatbot_pb2.ProviderPreference(provider="offline"),
        chatbot_pb2.ProviderPreference(provider="openai", model="gpt-4.1", temperature=0.5),
    ]
    available: dict[str, Provider] = {"openai": openai, "offline": offline}
    chain = provider_chain(preferences, available, offline)
    assert [(a.provider, a.model, a.temperature) for a in chain] == [(openai, "gpt-4.1", 0.5), (offline, "", None)]
    await openai.aclose()


async def test_the_preferred_model_and_temperature_reach_the_provider(serve: StartServer) -> None:
    server = await serve(openai_stream(["ok"]))
    await run([Attempt(openai_at(server.url), model="gpt-4o-mini", temperature=0.2)])
    body = server.exchanges[0].json()
    assert (body["model"], body["temperature"]) == ("gpt-4o-mini", 0.2)


async def test_a_slow_stream_is_relayed_as_it_comes(serve: StartServer) -> None:
    gate = asyncio.Event()
    server = await serve(openai_stream(["first ", "second"], gate=gate))
    provider = openai_at(server.url)
    events = stream_with_failover(make_request(), [Attempt(provider)])
    assert await asyncio.wait_for(anext(events), 5) == TextDelta("first ")
    assert not server.exchanges[0].finished
    gate.set()
    rest = [e async for e in events]
    await provider.aclose()
    assert rest[0] == TextDelta("second")
    assert isinstance(rest[-1], UsageReport)
    assert rest[-1].finish_reason is FinishReason.STOP


async def test_closing_the_chain_closes_the_providers_connection(serve: StartServer) -> None:
    server = await serve(anthropic_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = anthropic_at(server.url)
    events = stream_with_failover(make_request(), [Attempt(provider)])
    await anext(events)
    await events.aclose()
    await asyncio.wait_for(server.exchanges[0].closed_by_client.wait(), 2)
    assert not server.exchanges[0].finished
    await provider.aclose()


async def test_cancelling_the_consumer_closes_the_providers_connection(serve: StartServer) -> None:
    server = await serve(openai_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = openai_at(server.url)
    received: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for event in stream_with_failover(make_request(), [Attempt(provider)]):
            if isinstance(event, TextDelta):
                received.append(event.text)
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.exchanges[0].closed_by_client.wait(), 2)
    assert not server.exchanges[0].finished
    assert 0 < len(received) < 200
    await provider.aclose()
