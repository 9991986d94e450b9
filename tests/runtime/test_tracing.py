"""Tracing across services: with an exporter configured, a call's spans and those of the calls it makes downstream
form one trace, which reaches a collector over OTLP (tests/otlp_collector.py); cancelling a traced stream still
reaches the service under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from services.runtime.clients import STREAM_TIMEOUT_SECONDS, Clients
from services.runtime.server import HostedService, ServiceHost, build_host
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import Authenticator, ServiceTokens
from tests.otlp_collector import Collector, Span
from tests.runtime.test_server_lifecycle import _no_api_keys, _NoKeys

ANALYZE = "/avatarchat.ai.v1.AiService/AnalyzeSentiment"
STREAM = "/avatarchat.ai.v1.AiService/StreamResponse"


class _Back(ai_pb2_grpc.AiServiceServicer):
    """The downstream service: a sentiment, and a stream that runs until its caller goes away."""

    def __init__(self) -> None:
        self.stream_closed = asyncio.Event()

    async def AnalyzeSentiment(
        self, request: ai_pb2.AnalyzeSentimentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ai_pb2.AnalyzeSentimentResponse:
        return ai_pb2.AnalyzeSentimentResponse(sentiment=ai_pb2.Sentiment(score=0.5))

    async def StreamResponse(
        self, request: ai_pb2.StreamResponseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[ai_pb2.StreamResponseResponse]:
        try:
            yield ai_pb2.StreamResponseResponse(text_delta=ai_pb2.TextDelta(text="first"))
            await asyncio.Event().wait()
        finally:
            self.stream_closed.set()


class _Front(ai_pb2_grpc.AiServiceServicer):
    """The calling service: relays each RPC to the downstream one through its Clients, as the services do."""

    def __init__(self, clients: Clients, tokens: ServiceTokens) -> None:
        self._unary = ai_pb2_grpc.AiServiceStub(clients.channel("ai"))
        self._direct = ai_pb2_grpc.AiServiceStub(clients.channel("ai", propagate=False))
        self._tokens = tokens

    async def AnalyzeSentiment(
        self, request: ai_pb2.AnalyzeSentimentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ai_pb2.AnalyzeSentimentResponse:
        response: ai_pb2.AnalyzeSentimentResponse = await self._unary.AnalyzeSentiment(
            request, metadata=self._tokens.metadata()
        )
        return response

    async def StreamResponse(
        self, request: ai_pb2.StreamResponseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[ai_pb2.StreamResponseResponse]:
        call = self._direct.StreamResponse(request, metadata=self._tokens.metadata(), timeout=STREAM_TIMEOUT_SECONDS)
        async for event in call:
            yield event


@dataclass
class Traced:
    """The collector, the downstream servicer, the front host's port and a service token for calling it."""

    collector: Collector
    back: _Back
    front_port: int
    tokens: ServiceTokens


def _host(name: str, settings: RuntimeSettings, servicer: ai_pb2_grpc.AiServiceServicer) -> ServiceHost:
    tokens = ServiceTokens(settings.resolved_internal_secret(), name)
    hosted = HostedService(
        ai_pb2.DESCRIPTOR.services_by_name["AiService"],
        lambda server: ai_pb2_grpc.add_AiServiceServicer_to_server(servicer, server),
    )
    return build_host("ai", settings, [hosted], Authenticator(tokens, _NoKeys(), _no_api_keys), port=0)


@pytest.fixture(scope="module")
async def traced(settings: RuntimeSettings, otlp: Collector) -> AsyncIterator[Traced]:
    """A front and a back host that trace with the OTLP exporter."""
    traced_settings = settings.model_copy(update={"otel_exporter": "otlp"})
    back = _Back()  # type: ignore[abstract]  # the other RPCs stay unimplemented on purpose
    back_host = _host("back", traced_settings, back)
    await back_host.start()
    front_settings = traced_settings.model_copy(
        update={"service_addresses": {**settings.service_addresses, "ai": f"127.0.0.1:{back_host.port}"}}
    )
    tokens = ServiceTokens(settings.resolved_internal_secret(), "front")
    clients = Clients(front_settings)
    front_host = _host("front", front_settings, _Front(clients, tokens))  # type: ignore[abstract]
    await front_host.start()
    yield Traced(otlp, back, front_host.port, tokens)
    await front_host.stop(0)
    await clients.close()
    await back_host.stop(0)


def _one_trace(spans: list[Span], method: str) -> tuple[Span, Span, Span]:
    """The front's server span for `method`, the client span it made and the back's server span, checked to be one
    trace in that order of parents."""
    server_kind, client_kind = trace_pb2.Span.SPAN_KIND_SERVER, trace_pb2.Span.SPAN_KIND_CLIENT
    named = [s for s in spans if s.name == method]
    clients = [s for s in named if s.kind == client_kind]
    assert len(clients) == 1, named
    client = clients[0]
    by_id = {s.span_id: s for s in named}
    front, back = by_id.get(client.parent_span_id), [s for s in named if s.parent_span_id == client.span_id]
    assert front is not None, named
    assert front.kind == server_kind, front
    assert [s.kind for s in back] == [server_kind], named
    assert {front.trace_id, client.trace_id, back[0].trace_id} == {client.trace_id}, named
    return front, client, back[0]


async def test_a_unary_call_and_the_call_it_makes_downstream_are_one_trace(traced: Traced) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.front_port}") as channel:
        answer = await ai_pb2_grpc.AiServiceStub(channel).AnalyzeSentiment(
            ai_pb2.AnalyzeSentimentRequest(text="fine"), metadata=traced.tokens.metadata()
        )
    assert answer.sentiment.score == pytest.approx(0.5)
    front, _, _ = _one_trace(await traced.collector.spans_after_flush(), ANALYZE)
    assert front.parent_span_id == b""  # the test's own call carried no trace


async def test_a_relayed_stream_is_one_trace_and_cancelling_it_reaches_the_service_under_it(traced: Traced) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.front_port}") as channel:
        call = ai_pb2_grpc.AiServiceStub(channel).StreamResponse(
            ai_pb2.StreamResponseRequest(message="hi"), metadata=traced.tokens.metadata(), timeout=30
        )
        first = await call.read()
        assert isinstance(first, ai_pb2.StreamResponseResponse)
        assert first.text_delta.text == "first"
        assert not traced.back.stream_closed.is_set()
        call.cancel()
        # The front's relay is cancelled with its caller, and its traced call to the back with it.
        await asyncio.wait_for(traced.back.stream_closed.wait(), 10)
    await asyncio.sleep(0.2)  # the front's server span ends once its handler has unwound
    _one_trace(await traced.collector.spans_after_flush(), STREAM)
