"""OpenAIProvider against a local server speaking the Chat Completions SSE wire format."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from pydantic import SecretStr

from services.ai.providers import errors
from services.ai.providers.base import FinishReason, ProviderConfig, ProviderKind, TextDelta, UsageReport
from services.ai.providers.openai_provider import OpenAIProvider
from tests.services.ai.conftest import StartServer, answer_of, assert_arrives_piece_by_piece, failure_of, make_request
from tests.services.ai.wire import Exchange, Responder
from tests.services.ai.wire_formats import openai_chunk, openai_error, openai_stream

KEY = "sk-test-0123456789abcdefXYZW"


def provider_for(url: str, *, connect_timeout: float = 5.0) -> OpenAIProvider:
    config = ProviderConfig(
        id="openai",
        api_key=SecretStr(KEY),
        base_url=f"{url}/v1",
        default_model="gpt-4.1-mini",
        connect_timeout=connect_timeout,
    )
    return OpenAIProvider(config)


async def test_streams_text_then_the_servers_usage(serve: StartServer) -> None:
    server = await serve(openai_stream(["We open ", "at 9 ", "[1]."], prompt_tokens=57, completion_tokens=9))
    provider = provider_for(server.url)
    events = await answer_of(provider)

    assert events[:-1] == [TextDelta("We open "), TextDelta("at 9 "), TextDelta("[1].")]
    assert events[-1] == UsageReport(
        provider="openai",
        model="gpt-4.1-mini-2025-04-14",
        input_tokens=57,
        output_tokens=9,
        finish_reason=FinishReason.STOP,
    )
    exchange = server.exchanges[0]
    assert (exchange.method, exchange.path) == ("POST", "/v1/chat/completions")
    assert exchange.headers["authorization"] == f"Bearer {KEY}"
    body = exchange.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4.1-mini"
    assert body["max_completion_tokens"] == 200
    assert body["messages"] == [
        {"role": "system", "content": "You are Ava. Answer from the passages."},
        {"role": "user", "content": "When do you open?"},
    ]


async def test_length_finish_maps_to_max_tokens(serve: StartServer) -> None:
    server = await serve(openai_stream(["cut"], finish="length"))
    provider = provider_for(server.url)
    events = await answer_of(provider)
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.finish_reason is FinishReason.MAX_TOKENS


async def test_self_hosted_servers_get_max_tokens_and_need_no_key(serve: StartServer) -> None:
    server = await serve(openai_stream(["ok"]))
    config = ProviderConfig(
        id="vllm", base_url=f"{server.url}/v1", default_model="llama", kind=ProviderKind.SELF_HOSTED
    )
    assert config.configured
    provider = OpenAIProvider(config)
    events = [e async for e in provider.stream(make_request())]
    await provider.aclose()
    assert events[0] == TextDelta("ok")
    body = server.exchanges[0].json()
    assert body["max_tokens"] == 200
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(
    ("status", "error_type", "code", "reason"),
    [
        (401, "invalid_request_error", "invalid_api_key", errors.REASON_AUTH),
        (429, "requests", "rate_limit_exceeded", errors.REASON_RATE_LIMITED),
        (500, "server_error", None, errors.REASON_UNAVAILABLE),
    ],
)
async def test_error_bodies_become_unavailable_before_the_first_token(
    serve: StartServer, status: int, error_type: str, code: str | None, reason: str
) -> None:
    message = f"Incorrect API key provided: sk-test-*************XYZW. ({status})"
    server = await serve(openai_error(status, message, error_type, code))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)

    assert caught.status_code == status
    assert caught.reason == reason
    assert caught.provider == "openai"
    # The key, even masked as the API echoes it, never reaches our error messages or logs.
    assert "XYZW" not in str(caught)
    assert KEY not in str(caught)
    assert len(server.exchanges) == 1  # max_retries=0: failing over is the retry


async def test_broken_json_after_text_is_a_stream_error_with_the_partial_text(serve: StartServer) -> None:
    server = await serve(openai_stream(["Hello ", "there ", "never"], break_after=2))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Hello there "
    assert caught.reason == errors.REASON_MALFORMED


async def test_an_error_object_mid_stream_is_a_stream_error(serve: StartServer) -> None:
    server = await serve(openai_stream(["Part one. ", "lost"], error_after=1))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Part one. "
    assert caught.reason == errors.REASON_UNAVAILABLE
    assert "The server had an error" in caught.message


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": "none"},
        {"choices": [{"delta": "text"}]},
        {"choices": [{"delta": {"content": 7}}]},
        {"model": 3, "choices": []},
        {"choices": [], "usage": {"prompt_tokens": "many"}},
        ["not", "an", "object"],
    ],
)
async def test_a_chunk_of_the_wrong_shape_is_malformed_and_keeps_the_text(serve: StartServer, chunk: object) -> None:
    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        await respond.sse(openai_chunk("Kept "))
        await respond.sse(chunk)
        await respond.sse("[DONE]")
        await respond.end()

    server = await serve(handle)
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Kept "
    assert caught.reason == errors.REASON_MALFORMED


async def test_temperature_is_sent_only_when_the_bot_sets_one(serve: StartServer) -> None:
    server = await serve(openai_stream(["Hi"]))
    provider = provider_for(server.url)
    for temperature in (None, 0.3):
        request = replace(make_request(), temperature=temperature)
        events = [event async for event in provider.stream(request)]
        assert events[0] == TextDelta("Hi")
    await provider.aclose()
    unset, given = (exchange.json() for exchange in server.exchanges)
    assert "temperature" not in unset
    assert given["temperature"] == 0.3


async def test_broken_json_before_any_text_is_unavailable(serve: StartServer) -> None:
    server = await serve(openai_stream(["never"], break_after=0))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.reason == errors.REASON_MALFORMED


async def test_unreachable_server_is_unavailable() -> None:
    provider = provider_for("http://127.0.0.1:9", connect_timeout=1.0)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.reason == errors.REASON_UNAVAILABLE


async def test_a_paced_stream_arrives_piece_by_piece(serve: StartServer) -> None:
    gate = asyncio.Event()
    server = await serve(openai_stream(["first ", "second"], gate=gate))
    await assert_arrives_piece_by_piece(provider_for(server.url), server, gate)


async def test_closing_the_stream_closes_the_upstream_connection(serve: StartServer) -> None:
    server = await serve(openai_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = provider_for(server.url)
    events = provider.stream(make_request())
    assert await anext(events) == TextDelta("w0 ")
    await events.aclose()
    exchange = server.exchanges[0]
    await asyncio.wait_for(exchange.closed_by_client.wait(), 2)
    assert not exchange.finished
    await provider.aclose()


async def test_repr_and_config_hide_the_key() -> None:
    config = ProviderConfig(id="openai", api_key=SecretStr(KEY), base_url="http://127.0.0.1:1/v1")
    tenant = config.with_key("sk-tenant-secret-key-123456")
    provider = OpenAIProvider(tenant)
    for text in (repr(config), str(config), repr(tenant), repr(provider), f"{tenant.api_key}"):
        assert KEY not in text
        assert "sk-tenant-secret-key-123456" not in text
    assert tenant.api_key.get_secret_value() == "sk-tenant-secret-key-123456"
    await provider.aclose()
