"""AnthropicProvider against a local server speaking the Messages SSE wire format."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from services.ai.providers import errors
from services.ai.providers.anthropic_provider import AnthropicProvider
from services.ai.providers.base import FinishReason, ProviderConfig, TextDelta, UsageReport
from tests.services.ai.conftest import StartServer, answer_of, assert_arrives_piece_by_piece, failure_of, make_request
from tests.services.ai.wire import Exchange, Handler, Responder
from tests.services.ai.wire_formats import anthropic_error, anthropic_message, anthropic_stream

KEY = "sk-ant-test-0123456789abcdef"
MESSAGE = anthropic_message()
START = ("message_start", {"type": "message_start", "message": MESSAGE})
BLOCK = (
    "content_block_start",
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
)
BROKEN = ("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_de')
ARRAY = ("content_block_delta", ["not", "an", "object"])


def provider_for(url: str) -> AnthropicProvider:
    config = ProviderConfig(id="anthropic", api_key=SecretStr(KEY), base_url=url, default_model="claude-haiku-4-5")
    return AnthropicProvider(config)


async def test_streams_text_deltas_and_usage_from_message_start_and_delta(serve: StartServer) -> None:
    server = await serve(anthropic_stream(["Hello", " there", "!"], input_tokens=25, output_tokens=15))
    provider = provider_for(server.url)
    events = await answer_of(provider)

    assert events[:-1] == [TextDelta("Hello"), TextDelta(" there"), TextDelta("!")]
    assert events[-1] == UsageReport(
        provider="anthropic",
        model="claude-haiku-4-5-20251001",
        input_tokens=25,
        output_tokens=15,
        finish_reason=FinishReason.STOP,
    )
    exchange = server.exchanges[0]
    assert (exchange.method, exchange.path) == ("POST", "/v1/messages")
    body = exchange.json()
    assert body["stream"] is True
    assert body["system"] == "You are Ava. Answer from the passages."
    assert body["messages"] == [{"role": "user", "content": "When do you open?"}]
    assert body["max_tokens"] == 200
    assert body["model"] == "claude-haiku-4-5"


async def test_max_tokens_stop_reason(serve: StartServer) -> None:
    server = await serve(anthropic_stream(["cut"], stop_reason="max_tokens"))
    provider = provider_for(server.url)
    events = await answer_of(provider)
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.finish_reason is FinishReason.MAX_TOKENS


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (529, "overloaded_error", errors.REASON_OVERLOADED),
        (401, "authentication_error", errors.REASON_AUTH),
        (429, "rate_limit_error", errors.REASON_RATE_LIMITED),
        (500, "api_error", errors.REASON_UNAVAILABLE),
    ],
)
async def test_error_responses_are_unavailable(serve: StartServer, status: int, error_type: str, reason: str) -> None:
    server = await serve(anthropic_error(status, error_type, "Something went wrong"))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.status_code == status
    assert caught.reason == reason
    assert error_type in caught.message


async def test_an_error_event_mid_stream_keeps_the_partial_text(serve: StartServer) -> None:
    server = await serve(anthropic_stream(["Our hours ", "are ", "never sent"], error_after=2))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Our hours are "
    assert caught.reason == errors.REASON_OVERLOADED


async def test_closing_the_stream_closes_the_upstream_connection(serve: StartServer) -> None:
    server = await serve(anthropic_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = provider_for(server.url)
    events = provider.stream(make_request())
    assert await anext(events) == TextDelta("w0 ")
    await events.aclose()
    exchange = server.exchanges[0]
    await asyncio.wait_for(exchange.closed_by_client.wait(), 2)
    assert not exchange.finished
    await provider.aclose()


def text(piece: object) -> tuple[str, object]:
    """A content_block_delta event carrying `piece` as its text."""
    return (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
    )


def message_start(**fields: object) -> tuple[str, object]:
    """A message_start event whose message has `fields` in place of the usual ones."""
    return ("message_start", {"type": "message_start", "message": {**MESSAGE, **fields}})


def events(*sent: tuple[str, object]) -> Handler:
    """Streams `sent` as (event, data) pairs, strings as they are, then message_stop."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        for event, data in sent:
            if isinstance(data, str):
                await respond.send(f"event: {event}\ndata: {data}\n\n")
            else:
                await respond.sse(data, event=event)
        await respond.sse({"type": "message_stop"}, event="message_stop")
        await respond.end()

    return handle


async def test_broken_json_before_any_text_is_unavailable(serve: StartServer) -> None:
    server = await serve(events(START, BLOCK, BROKEN, text("never")))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.reason == errors.REASON_MALFORMED


async def test_broken_json_after_text_is_a_stream_error_with_the_partial_text(serve: StartServer) -> None:
    server = await serve(events(START, BLOCK, text("Hello "), text("there "), BROKEN, text("never")))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Hello there "
    assert caught.reason == errors.REASON_MALFORMED


@pytest.mark.parametrize(
    "sent",
    [
        (("message_start", {"type": "message_start", "message": "oops"}), BLOCK),
        (message_start(model=3), BLOCK),
        (message_start(usage={"input_tokens": "lots", "output_tokens": 1}), BLOCK),
        (("message_start", ["not", "an", "object"]), BLOCK),
        (START, BLOCK, ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": "text"})),
        (START, BLOCK, text(7)),
        (START, BLOCK, ARRAY),
    ],
)
async def test_an_event_of_the_wrong_shape_before_any_text_is_unavailable(
    serve: StartServer, sent: tuple[tuple[str, object], ...]
) -> None:
    server = await serve(events(*sent, text("never")))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.reason == errors.REASON_MALFORMED


@pytest.mark.parametrize(
    "bad",
    [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": "text"}),
        text(7),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": "none"}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": "many"}},
        ),
        ARRAY,
    ],
)
async def test_an_event_of_the_wrong_shape_after_text_is_malformed_and_keeps_the_text(
    serve: StartServer, bad: tuple[str, object]
) -> None:
    server = await serve(events(START, BLOCK, text("Kept "), bad))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Kept "
    assert caught.reason == errors.REASON_MALFORMED


async def test_a_paced_stream_arrives_piece_by_piece(serve: StartServer) -> None:
    gate = asyncio.Event()
    server = await serve(anthropic_stream(["first ", "second"], gate=gate))
    await assert_arrives_piece_by_piece(provider_for(server.url), server, gate)
