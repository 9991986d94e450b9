"""OpenTelemetry tracing for a service: a tracer provider and the gRPC server/client instrumentation."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter


def configure_tracing(service: str, exporter: str) -> TracerProvider:
    """Installs a tracer provider named after the service; `exporter` is none, console or otlp.

    A process has one provider: the first call's (one service per process, so its name) serves later calls too.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": f"avatarchat-{service}"}))
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return provider


def server_interceptor(provider: TracerProvider) -> Any:
    """The OpenTelemetry grpc.aio server interceptor (a span per RPC, context from metadata)."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return aio_server_interceptor(tracer_provider=provider)  # type: ignore[no-untyped-call]


def client_interceptors() -> list[Any]:
    """The OpenTelemetry grpc.aio client interceptors: a client span per call, its context in the call's metadata.

    They use the process's provider, which configure_tracing may install after the channels are made.
    """
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]
