"""Generic calls of any bound RPC over the channel of its upstream: no stub or route per RPC.

These channels carry no client interceptor: every transcoded call passes its own metadata (credential,
request id, address) and deadline, and grpc.aio runs an intercepted call as an extra task per call.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from edge.http_rules import HttpBinding
from services.runtime.clients import open_channel
from services.runtime.settings import RuntimeSettings


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class Upstreams:
    """Multi-callables per RPC, made once from the binding's descriptors and the upstream's channel."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self._settings = settings
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[str, Any] = {}

    def channel(self, upstream: str) -> grpc.aio.Channel:
        """The channel to an upstream service, opened on first use."""
        channel = self._channels.get(upstream)
        if channel is None:
            channel = open_channel(
                self._settings.address_of(upstream), propagate=False, traced=self._settings.otel_exporter != "none"
            )
            self._channels[upstream] = channel
        return channel

    async def close(self) -> None:
        """Closes every channel."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._callables.clear()

    def unary(self, binding: HttpBinding) -> grpc.aio.UnaryUnaryMultiCallable[Message, Message]:
        """The unary call of `binding`'s RPC."""
        return self._get(binding, "unary_unary")  # type: ignore[no-any-return]

    def server_stream(self, binding: HttpBinding) -> grpc.aio.UnaryStreamMultiCallable[Message, Message]:
        """The server-streaming call of `binding`'s RPC."""
        return self._get(binding, "unary_stream")  # type: ignore[no-any-return]

    def client_stream(self, binding: HttpBinding) -> grpc.aio.StreamUnaryMultiCallable[Message, Message]:
        """The client-streaming call of `binding`'s RPC."""
        return self._get(binding, "stream_unary")  # type: ignore[no-any-return]

    def _get(self, binding: HttpBinding, kind: str) -> Any:
        key = f"{kind}:{binding.rpc_path}"
        found = self._callables.get(key)
        if found is None:
            factory = getattr(self.channel(binding.upstream), kind)
            found = factory(
                binding.rpc_path,
                request_serializer=_serialize,
                response_deserializer=binding.response_class.FromString,
            )
            self._callables[key] = found
        return found
