"""ASGI middleware: request ids and Server-Timing on every exchange, and rate limits on the REST API.

Pure ASGI classes rather than BaseHTTPMiddleware: each wraps `send` only, so no extra task or
streaming body per request.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid

import grpc
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge import transcode
from edge.errors import EdgeError
from edge.ratelimit import Pending, Quota
from edge.state import EdgeState
from services.runtime.context import request_id_var

REQUEST_ID = "x-request-id"
SERVER_TIMING = "server-timing"
#: Where a handler records the seconds its upstream call took (`request.state.upstream_seconds`).
UPSTREAM_SECONDS = "upstream_seconds"
#: Caller-chosen ids are kept only when they are short and plain, so logs and metadata stay safe.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_or_new(incoming: str) -> str:
    """A caller's id when it is short and plain, else a fresh one (the rule for Socket.io events too)."""
    return incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes the caller's X-Request-Id (or makes one), exposes it to handlers and logs, and echoes it.

    Also answers `Server-Timing: edge;dur=<ms>[, upstream;dur=<ms>]`: the time the edge spent until the
    response started, less the upstream call a handler recorded, so operators see what the edge adds.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wraps one exchange."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_or_new(Headers(scope=scope).get(REQUEST_ID, ""))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID] = request_id
                headers.append(SERVER_TIMING, server_timing(time.perf_counter() - started, state.get(UPSTREAM_SECONDS)))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def server_timing(total_seconds: float, upstream_seconds: float | None) -> str:
    """The Server-Timing value: the edge's own share, and the upstream call's when there was one."""
    if upstream_seconds is None:
        return f"edge;dur={total_seconds * 1000:.3f}"
    edge_ms = max(0.0, total_seconds - upstream_seconds) * 1000
    return f"edge;dur={edge_ms:.3f}, upstream;dur={upstream_seconds * 1000:.3f}"


class _Refused(Exception):
    """Raised into a safe request's handler when its count refused it after it started; ends its response."""


class RateLimitMiddleware:
    """Counts `/v1/` requests (not CORS preflights) and answers 429 past the limit; headers on every answer.

    Most requests are settled by the units this process leased (see edge/ratelimit.py) and never wait. One
    that must wait for a block from Redis runs meanwhile when it is safe (GET, HEAD) and far from every
    limit: its response still waits for the count, and a refusal replaces it with the 429. Every other
    request waits for its count before it runs.
    """

    def __init__(self, app: ASGIApp, path_prefix: str = "/v1/") -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wraps one exchange."""
        edge: EdgeState | None = getattr(scope["app"].state, "edge", None) if "app" in scope else None
        if (
            scope["type"] != "http"
            or edge is None
            or not edge.settings.rate_limit_enabled
            or scope["method"] == "OPTIONS"
            or not scope["path"].startswith(self.path_prefix)
        ):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        counted = edge.limiter.count(await edge.identifier.buckets(Headers(scope=scope), client))
        if isinstance(counted, Pending):
            if scope["method"] in _SAFE_METHODS and counted.far_from_limit:
                await self._run_while_counting(counted, scope, receive, send)
                return
            quota = await counted.verdict()
        else:
            quota = counted
        if quota is None:
            await self.app(scope, receive, send)
        elif not quota.allowed:
            await _refuse(send, quota)
        else:
            await self.app(scope, receive, _with_quota(send, quota))

    async def _run_while_counting(self, counting: Pending, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_when_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                quota = await counting.verdict()
                if quota is not None and not quota.allowed:
                    await _refuse(send, quota)
                    raise _Refused
                if quota is not None:
                    _set_headers(message, quota.headers())
            await send(message)

        with contextlib.suppress(_Refused):  # the 429 is out; the handler's own answer is dropped
            await self.app(scope, receive, send_when_counted)


_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _set_headers(message: Message, headers: dict[str, str]) -> None:
    target = MutableHeaders(scope=message)
    for name, value in headers.items():
        target[name] = value


def _with_quota(send: Send, quota: Quota) -> Send:
    headers = quota.headers()

    async def send_with_quota(message: Message) -> None:
        if message["type"] == "http.response.start":
            _set_headers(message, headers)
        await send(message)

    return send_with_quota


async def _refuse(send: Send, quota: Quota) -> None:
    """The 429 answer, with RateLimit headers and Retry-After."""
    error = EdgeError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"too many requests; retry in {quota.reset_seconds}s",
        reason="RATE_LIMITED",
        metadata={"retry_after_seconds": str(quota.reset_seconds)},
    )
    body = transcode.dumps(error.body())
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.encode(), v.encode()) for k, v in quota.headers().items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
