"""Channels to other services: deadlines and retries through gRPC service config, metadata propagation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from services.runtime.context import principal_var, request_id_var
from services.runtime.settings import RuntimeSettings
from services.runtime.telemetry import client_interceptors

#: Retry only what is safe to retry: the call never reached a server (UNAVAILABLE).
_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

#: Server-streaming answers may legitimately run long, but never forever.
STREAM_TIMEOUT_SECONDS = 300.0


def _propagated(existing: Sequence[tuple[str, str | bytes]] | None) -> list[tuple[str, str | bytes]]:
    metadata = list(with_request_id(existing or ()))
    keys = {k for k, _ in metadata}
    principal = principal_var.get()
    if "authorization" not in keys and principal.credential:
        metadata.append(("authorization", f"Bearer {principal.credential}"))
    if "x-tenant-id" not in keys and principal.tenant_id is not None:
        metadata.append(("x-tenant-id", str(principal.tenant_id)))
    if "x-chatbot-id" not in keys and principal.chatbot_id is not None:
        metadata.append(("x-chatbot-id", str(principal.chatbot_id)))
    return metadata


def with_request_id(metadata: Sequence[tuple[str, str | bytes]]) -> tuple[tuple[str, str | bytes], ...]:
    """`metadata` and the current request id unless it carries one, as calls on a channel opened with
    `propagate=False` must pass it themselves."""
    request_id = request_id_var.get()
    if not request_id or any(key == "x-request-id" for key, _ in metadata):
        return tuple(metadata)
    return (*metadata, ("x-request-id", request_id))


def _details(details: grpc.aio.ClientCallDetails, default_timeout: float) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout if details.timeout is not None else default_timeout,
        metadata=grpc.aio.Metadata(*_propagated(tuple(details.metadata or ()))),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class PropagatingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds request id, the caller's credential and tenant to outgoing unary calls, and a default deadline.

    Unary calls only: grpc.aio files an interceptor under the first call kind it implements, so one class for
    several kinds never sees the others. Stream calls pass their metadata (`with_request_id`) and a deadline
    (`STREAM_TIMEOUT_SECONDS` at most) themselves; each is a single call site.
    """

    def __init__(self, unary_timeout: float) -> None:
        self._unary_timeout = unary_timeout

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        """Unary calls get the unary default deadline."""
        return await continuation(_details(client_call_details, self._unary_timeout), request)


def open_channel(
    target: str,
    *,
    unary_timeout: float = 10.0,
    extra_interceptors: Sequence[Any] = (),
    propagate: bool = True,
    traced: bool = False,
) -> grpc.aio.Channel:
    """An insecure loopback/mesh channel (Istio adds mTLS in a cluster) with retries and, for unary calls,
    propagation.

    `propagate=False` leaves the interceptor out, for callers that pass metadata and a deadline on every
    call themselves: grpc.aio runs each intercepted call as an extra task, which costs a busy caller time.
    `traced` (when an exporter is configured) gives every call a client span whose trace goes along in its
    metadata, so the service's spans join the caller's trace.
    """
    interceptors = [PropagatingInterceptor(unary_timeout)] if propagate else []
    if traced:
        interceptors += client_interceptors()
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
        ],
        interceptors=[*interceptors, *extra_interceptors] or None,
    )


class Clients:
    """One channel per service, opened on first use and closed together."""

    def __init__(self, settings: RuntimeSettings, extra_interceptors: Sequence[Any] = ()) -> None:
        self._settings = settings
        self._extra = list(extra_interceptors)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str, *, propagate: bool = True) -> grpc.aio.Channel:
        """The channel to `service` (by name in the service map); see open_channel for `propagate`."""
        key = service if propagate else f"{service} (direct)"
        channel = self._channels.get(key)
        if channel is None:
            channel = open_channel(
                self._settings.address_of(service),
                unary_timeout=self._settings.call_timeout_seconds,
                extra_interceptors=self._extra,
                propagate=propagate,
                traced=self._settings.otel_exporter != "none",
            )
            self._channels[key] = channel
        return channel

    async def close(self) -> None:
        """Closes every channel."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
