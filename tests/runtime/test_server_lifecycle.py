"""The service host: graceful shutdown lets in-flight calls finish, and unexpected errors never leak."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from services.runtime import errors
from services.runtime.context import Principal
from services.runtime.server import HostedService, ServiceHost, build_host
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import Authenticator, ServiceTokens


class _NoKeys:
    """A JWKS that knows no key: only service tokens authenticate against this host."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return None


async def _no_api_keys(key: str) -> Principal:
    raise errors.Unauthenticated("no API keys here")


class _SlowSentiment(ai_pb2_grpc.AiServiceServicer):
    """AnalyzeSentiment that takes a while, or fails unexpectedly when asked to."""

    async def AnalyzeSentiment(
        self, request: ai_pb2.AnalyzeSentimentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ai_pb2.AnalyzeSentimentResponse:
        if request.text == "explode":
            raise RuntimeError("SELECT secret FROM internal_table")
        await asyncio.sleep(0.6)
        return ai_pb2.AnalyzeSentimentResponse(sentiment=ai_pb2.Sentiment(score=0.5))


@pytest.fixture
async def host(settings: RuntimeSettings) -> AsyncIterator[tuple[ServiceHost, ServiceTokens]]:
    """A started host for the slow servicer on a free port."""
    tokens = ServiceTokens(settings.resolved_internal_secret(), "lifecycle-test")
    servicer = _SlowSentiment()  # type: ignore[abstract]  # the other RPCs stay unimplemented on purpose
    hosted = HostedService(
        ai_pb2.DESCRIPTOR.services_by_name["AiService"],
        lambda server: ai_pb2_grpc.add_AiServiceServicer_to_server(servicer, server),
    )
    running = build_host("ai", settings, [hosted], Authenticator(tokens, _NoKeys(), _no_api_keys), port=0)
    await running.start()
    yield running, tokens
    await running.stop(0)


async def test_sigterm_style_stop_finishes_in_flight_calls_and_refuses_new_ones(
    host: tuple[ServiceHost, ServiceTokens],
) -> None:
    running, tokens = host
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = ai_pb2_grpc.AiServiceStub(channel)
        health: Any = health_pb2_grpc.HealthStub(channel)
        request = ai_pb2.AnalyzeSentimentRequest(text="slow")
        in_flight = asyncio.ensure_future(stub.AnalyzeSentiment(request, metadata=tokens.metadata()))
        await asyncio.sleep(0.2)
        stopping = asyncio.ensure_future(running.stop(5.0))
        await asyncio.sleep(0.05)
        # While the first call is still under way, a new one is refused, not accepted into the grace period.
        assert not in_flight.done()
        with pytest.raises(grpc.aio.AioRpcError) as turned_away:
            await stub.AnalyzeSentiment(request, metadata=tokens.metadata(), timeout=1)
        assert turned_away.value.code() == grpc.StatusCode.UNAVAILABLE
        assert not in_flight.done()
        answer = await in_flight
        assert answer.sentiment.score == pytest.approx(0.5)
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_unexpected_errors_answer_internal_without_details(host: tuple[ServiceHost, ServiceTokens]) -> None:
    running, tokens = host
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = ai_pb2_grpc.AiServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AnalyzeSentiment(ai_pb2.AnalyzeSentimentRequest(text="explode"), metadata=tokens.metadata())
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert caught.value.details() == "Internal server error"
        with pytest.raises(grpc.aio.AioRpcError) as unimplemented:
            await stub.ListProviders(ai_pb2.ListProvidersRequest(), metadata=tokens.metadata())
        assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
