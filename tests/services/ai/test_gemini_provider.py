"""GeminiProvider (google-genai SDK) against a local server speaking streamGenerateContent?alt=sse."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from services.ai.providers import errors
from services.ai.providers.base import FinishReason, ProviderConfig, ProviderEvent, TextDelta, UsageReport
from services.ai.providers.gemini_provider import GeminiProvider
from tests.services.ai.conftest import StartServer, make_request
from tests.services.ai.wire_formats import gemini_error, gemini_stream

KEY = "AIza-test-0123456789abcdef"


def provider_for(url: str) -> GeminiProvider:
    config = ProviderConfig(id="gemini", api_key=SecretStr(KEY), base_url=url, default_model="gemini-2.5-flash")
    return GeminiProvider(config)


async def collect(provider: GeminiProvider) -> list[ProviderEvent]:
    return [event async for event in provider.stream(make_request())]


async def test_streams_text_and_the_last_usage_metadata(serve: StartServer) -> None:
    server = await serve(gemini_stream(["We open ", "at nine."], prompt_tokens=30, finish="STOP"))
    provider = provider_for(server.url)
    events = await collect(provider)
    await provider.aclose()

    assert events[:-1] == [TextDelta("We open "), TextDelta("at nine.")]
    assert events[-1] == UsageReport(
        provider="gemini", model="gemini-2.5-flash", input_tokens=30, output_tokens=2, finish_reason=FinishReason.STOP
    )
    exchange = server.exchanges[0]
    assert exchange.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert exchange.headers["x-goog-api-key"] == KEY
    # The tag that lets the provider close its own response never leaves the process.
    assert "x-avatarchat-stream" not in exchange.headers
    body = exchange.json()
    assert body["contents"] == [{"parts": [{"text": "When do you open?"}], "role": "user"}]
    assert body["systemInstruction"]["parts"] == [{"text": "You are Ava. Answer from the passages."}]
    assert body["generationConfig"]["maxOutputTokens"] == 200


async def test_safety_finish_is_a_content_filter(serve: StartServer) -> None:
    server = await serve(gemini_stream(["I can't"], finish="SAFETY"))
    provider = provider_for(server.url)
    events = await collect(provider)
    await provider.aclose()
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.finish_reason is FinishReason.CONTENT_FILTER


@pytest.mark.parametrize(
    ("status", "google_status", "reason"),
    [
        (500, "INTERNAL", errors.REASON_UNAVAILABLE),
        (429, "RESOURCE_EXHAUSTED", errors.REASON_RATE_LIMITED),
        (403, "PERMISSION_DENIED", errors.REASON_AUTH),
    ],
)
async def test_error_bodies_are_unavailable(serve: StartServer, status: int, google_status: str, reason: str) -> None:
    server = await serve(gemini_error(status, google_status, "nope"))
    provider = provider_for(server.url)
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await collect(provider)
    await provider.aclose()
    assert caught.value.status_code == status
    assert caught.value.reason == reason
    assert len(server.exchanges) == 1


async def test_broken_json_after_text_is_a_stream_error(serve: StartServer) -> None:
    server = await serve(gemini_stream(["Hello ", "never"], break_after=1))
    provider = provider_for(server.url)
    with pytest.raises(errors.ProviderStreamError) as caught:
        await collect(provider)
    await provider.aclose()
    assert caught.value.partial_text == "Hello "
    assert caught.value.reason == errors.REASON_MALFORMED


async def test_closing_the_stream_closes_the_upstream_connection(serve: StartServer) -> None:
    server = await serve(gemini_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = provider_for(server.url)
    events = provider.stream(make_request())
    assert await anext(events) == TextDelta("w0 ")
    await events.aclose()
    exchange = server.exchanges[0]
    await asyncio.wait_for(exchange.closed_by_client.wait(), 2)
    assert not exchange.finished
    await provider.aclose()
