"""The server interceptor every service runs: request id, authentication, policy, errors, logs and metrics."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn, cast

import grpc
from prometheus_client import Counter, Histogram

from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors, status
from services.runtime.context import principal_var, request_id_var
from services.runtime.policy import authorize
from services.runtime.tokens import Authenticator

log = logging.getLogger("avatarchat.rpc")

HANDLED = Counter("grpc_server_handled_total", "RPCs completed, by method and status code.", ["method", "code"])
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time from request to last response, by method.",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

#: Methods of the platform's own infrastructure services, served without authentication.
_INFRA_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def _failure_code(exc: Exception) -> str:
    if isinstance(exc, errors.ServiceError):
        return exc.code.name
    return "UNIMPLEMENTED" if isinstance(exc, NotImplementedError) else "INTERNAL"


def _code_name(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "ABORTED"


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every RPC handler of a service; servicers only see calls that passed the policy."""

    def __init__(
        self, domain: str, authenticator: Authenticator, policies: Mapping[str, policy_pb2.MethodPolicy]
    ) -> None:
        self._domain = domain
        self._authenticator = authenticator
        self._policies = dict(policies)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Returns the handler with its behaviour wrapped; infrastructure methods pass untouched."""
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_INFRA_PREFIXES):
            return handler
        policy = self._policies.get(method)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, policy, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, policy, cast(Callable[..., AsyncIterator[Any]], handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, policy, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, policy, cast(Callable[..., AsyncIterator[Any]], handler.stream_stream)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def _enter(self, policy: policy_pb2.MethodPolicy | None, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        md = _metadata(context)
        request_id_var.set(md.get("x-request-id") or uuid.uuid4().hex)
        principal = await self._authenticator.authenticate(md.get("authorization"))
        principal_var.set(principal)
        authorize(policy, principal)

    async def _fail(self, method: str, exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> NoReturn:
        if isinstance(exc, errors.ServiceError):
            if exc.code == grpc.StatusCode.INTERNAL:
                log.error("rpc failed", extra={"method": method}, exc_info=exc)
                await context.abort_with_status(status.internal_status(self._domain))
            await context.abort_with_status(status.to_status(exc, self._domain))
        if isinstance(exc, NotImplementedError):
            # The generated base servicer raises this for RPCs a service does not implement (yet).
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented")
        log.error("unhandled error", extra={"method": method}, exc_info=exc)
        await context.abort_with_status(status.internal_status(self._domain))
        raise AssertionError("unreachable")  # abort_with_status always raises

    def _done(self, method: str, code: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        HANDLED.labels(method, code).inc()
        LATENCY.labels(method).observe(elapsed)
        log.info("rpc", extra={"method": method, "code": code, "duration_ms": round(elapsed * 1000, 2)})

    def _wrap_unary(
        self, method: str, policy: policy_pb2.MethodPolicy | None, behaviour: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started, code = time.perf_counter(), "OK"
            try:
                await self._enter(policy, context)
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                code = _code_name(context)
                raise
            except Exception as exc:
                code = _failure_code(exc)
                await self._fail(method, exc, context)
            finally:
                self._done(method, code, started)

        return wrapped

    def _wrap_stream(
        self,
        method: str,
        policy: policy_pb2.MethodPolicy | None,
        behaviour: Callable[..., AsyncIterator[Any]],
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            started, code = time.perf_counter(), "OK"
            try:
                await self._enter(policy, context)
                async for response in behaviour(request, context):
                    yield response
            except grpc.aio.AbortError:
                code = _code_name(context)
                raise
            except Exception as exc:
                code = _failure_code(exc)
                await self._fail(method, exc, context)
            finally:
                self._done(method, code, started)

        return wrapped
