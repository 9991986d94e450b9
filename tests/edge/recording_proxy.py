"""A gRPC proxy in front of real services that notes what every call carried (metadata, deadline).

The edge's own calls are what the realtime tests must observe; a proxy sees them exactly as a service
would, without changing the edge or the services. Methods named in `stalled` never answer, as a
wedged upstream would not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from tests.conftest import free_port

#: Metadata gRPC itself adds on the wire; not the caller's.
_TRANSPORT_KEYS = ("user-agent", "grpc-")


@dataclass(frozen=True)
class SeenCall:
    """One call as the proxy received it."""

    method: str
    """The RPC's short name, e.g. `ResolveEmbed`."""
    metadata: dict[str, str]
    time_remaining: float | None
    """Seconds left of the caller's deadline on arrival; None when it set none."""


@dataclass
class RecordingProxy(grpc.GenericRpcHandler):
    """Forwards every call to the channel of its service (by full service name) and records it."""

    channels: Mapping[str, grpc.aio.Channel]
    seen: list[SeenCall] = field(default_factory=list)
    stalled: set[str] = field(default_factory=set)

    def calls(self, method: str) -> list[SeenCall]:
        """The calls of one RPC, in arrival order."""
        return [c for c in self.seen if c.method == method]

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        """A raw-bytes handler forwarding the method, unary or server-streaming as its descriptor says."""
        path: str = handler_call_details.method
        service, _, name = path.lstrip("/").rpartition("/")
        channel = self.channels.get(service)
        if channel is None:
            return None
        method = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
        if method.client_streaming:
            return None
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._stream(channel, path, name))
        return grpc.unary_unary_rpc_method_handler(self._unary(channel, path, name))

    async def _arrive(self, name: str, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[tuple[str, Any], ...]:
        forwarded = tuple((k, v) for k, v in context.invocation_metadata() or () if not k.startswith(_TRANSPORT_KEYS))
        text = {k: v for k, v in forwarded if isinstance(v, str)}
        self.seen.append(SeenCall(name, text, context.time_remaining()))
        if name in self.stalled:
            await asyncio.Event().wait()  # until the caller's deadline cancels the call
        return forwarded

    def _unary(
        self, channel: grpc.aio.Channel, path: str, name: str
    ) -> Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]:
        async def forward(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            metadata = await self._arrive(name, context)
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
            try:
                answer = await call(request, metadata=metadata, timeout=context.time_remaining())
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "", exc.trailing_metadata())
            return answer

        return forward

    def _stream(
        self, channel: grpc.aio.Channel, path: str, name: str
    ) -> Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[bytes]]:
        async def forward(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
            metadata = await self._arrive(name, context)
            call: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(path)
            try:
                async for answer in call(request, metadata=metadata, timeout=context.time_remaining()):
                    yield answer
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "", exc.trailing_metadata())

        return forward


@asynccontextmanager
async def serve_recording_proxy(targets: Mapping[str, str]) -> AsyncIterator[tuple[RecordingProxy, str]]:
    """A proxy on a free loopback port for services by full name (`avatarchat.auth.v1.AuthService` → address)."""
    channels = {service: grpc.aio.insecure_channel(address) for service, address in targets.items()}
    proxy = RecordingProxy(channels)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((proxy,))
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield proxy, address
    finally:
        await server.stop(0.2)
        for channel in channels.values():
            await channel.close()
