"""Hosts a service on grpc.aio: interceptors, health, reflection, metrics and graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import uvloop
from google.protobuf import descriptor as _descriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from services.runtime import logs
from services.runtime.interceptor import ServiceInterceptor
from services.runtime.policy import method_policies
from services.runtime.settings import METRICS_PORT_OFFSET, RuntimeSettings
from services.runtime.telemetry import configure_tracing, server_interceptor
from services.runtime.tokens import Authenticator

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]
S = TypeVar("S", bound=RuntimeSettings)
T = TypeVar("T")


@dataclass(frozen=True)
class HostedService:
    """One gRPC service implementation and how to add it to a server."""

    descriptor: _descriptor.ServiceDescriptor
    """The service's descriptor (its policies and reflection come from here)."""
    add_to_server: Callable[[grpc.aio.Server], None]
    """Registers the servicer on a server."""


@dataclass
class ServiceHost:
    """A built, not yet started, gRPC server for one avatarchat service."""

    name: str
    server: grpc.aio.Server
    health: HealthServicer
    services: Sequence[HostedService]
    port: int
    closers: list[Closer] = field(default_factory=list)

    async def start(self) -> int:
        """Starts serving and marks every service SERVING; returns the bound port."""
        await self.server.start()
        for svc in self.services:
            await self.health.set(svc.descriptor.full_name, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"port": self.port, "services": [s.descriptor.full_name for s in self.services]})
        return self.port

    async def stop(self, grace: float) -> None:
        """Reports NOT_SERVING, lets in-flight calls finish within `grace`, then closes resources."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.warning("error while closing", exc_info=True)


def build_host(
    name: str,
    settings: RuntimeSettings,
    services: Sequence[HostedService],
    authenticator: Authenticator,
    *,
    port: int | None = None,
) -> ServiceHost:
    """A server for `services` on `port` (default: the service map; 0 picks a free one)."""
    interceptors: list[grpc.aio.ServerInterceptor] = [
        ServiceInterceptor(f"avatarchat.{name}", authenticator, method_policies(s.descriptor for s in services)),
    ]
    if settings.otel_exporter != "none":
        # Spans with no exporter go nowhere, yet the interceptor wraps every streamed message of every call.
        interceptors.insert(0, server_interceptor(configure_tracing(name, settings.otel_exporter)))
    server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for svc in services:
        svc.add_to_server(server)
    reflection.enable_server_reflection(
        [
            *(s.descriptor.full_name for s in services),
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    wanted = settings.port_of(name) if port is None else port
    bound = server.add_insecure_port(f"{settings.grpc_host}:{wanted}")
    if bound == 0:
        raise OSError(f"cannot bind {settings.grpc_host}:{wanted} for {name}")
    return ServiceHost(name=name, server=server, health=health, services=services, port=bound)


def run(name: str, build: Callable[[S], Awaitable[ServiceHost]], settings: S) -> None:
    """Process entry point: logs, metrics, build, serve until SIGTERM/SIGINT, then shut down gracefully."""
    logs.configure(name, settings.log_level, settings.log_json)
    if settings.metrics_enabled:
        from prometheus_client import start_http_server

        start_http_server(settings.port_of(name) + METRICS_PORT_OFFSET, addr=settings.grpc_host)
    run_event_loop(_serve(build, settings), settings)


def run_event_loop(main: Coroutine[Any, Any, T], settings: RuntimeSettings) -> T:
    """Runs `main` to completion on the configured event loop.

    uvloop by default: every message of every call wakes the loop at least once (grpc.aio hands each completion
    over through a socket the loop watches), and libuv's loop costs a fraction of the standard one per wake-up.
    """
    if settings.event_loop == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)


def freeze_startup_heap() -> None:
    """Takes what start-up allocated (modules, descriptors, clients) out of the garbage collector's sight.

    A full collection of a service's start-up heap (~330,000 objects) holds the event loop for ~170 ms, and
    one comes whenever enough objects have outlived younger collections: a stall in every answer under way.
    Frozen objects are never scanned again; what is allocated afterwards is collected as usual.
    """
    gc.collect()
    gc.freeze()


async def _serve(build: Callable[[S], Awaitable[ServiceHost]], settings: S) -> None:
    host = await build(settings)
    await host.start()
    freeze_startup_heap()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    await host.stop(settings.shutdown_grace_seconds)
