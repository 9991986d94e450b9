"""A local OTLP trace collector: a gRPC server speaking OTLP's trace service, so the real exporter sends to it.

A process has one tracer provider (services/runtime/telemetry.py), made by the first service that traces, so
every test that traces shares this collector: `serve_collector` points the exporter at it for the whole session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider

_ENVIRONMENT = {"OTEL_EXPORTER_OTLP_INSECURE": "true"}


@dataclass(frozen=True)
class Span:
    """What the collector was sent of one span."""

    name: str
    kind: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    self.spans.append(Span(s.name, s.kind, s.trace_id, s.span_id, s.parent_span_id))
        return trace_service_pb2.ExportTraceServiceResponse()

    async def spans_after_flush(self) -> list[Span]:
        """Every span it has, once the process's provider has sent what it holds."""
        assert await _in_thread("force_flush")
        return list(self.spans)


async def _in_thread(method: str) -> bool:
    """Calls the process's provider's force_flush or shutdown; in a thread, as the collector answers on this loop."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "no service in this process has configured tracing"
    result = await asyncio.to_thread(getattr(provider, method))
    return result is not False


@asynccontextmanager
async def serve_collector() -> AsyncIterator[Collector]:
    """The collector, with OTEL_EXPORTER_OTLP_ENDPOINT pointing at it until the block ends."""
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    environment = {**_ENVIRONMENT, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        yield collector
    finally:
        # The provider sends what it holds and stops, so spans ended later go nowhere instead of retrying.
        if isinstance(trace.get_tracer_provider(), TracerProvider):
            await _in_thread("shutdown")
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        await server.stop(0)
