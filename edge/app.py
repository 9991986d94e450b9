"""Composition root of the edge: routes from the contracts, middleware, and the channels and Redis it holds.

The seam for the widget task: pass `extra_routes` (e.g. `Mount("/socket.io", app=socketio.ASGIApp(sio))`
and static routes for embed.js and models) and `lifespan_hooks`, each entered with the running
`EdgeState` (channels, Redis, settings) after start-up and left before shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import grpc
import redis.asyncio as aioredis
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from edge import api
from edge.catalog import load_services
from edge.descriptions import load_comments
from edge.docs import docs_routes
from edge.errors import EdgeError
from edge.health import healthz
from edge.http_rules import bindings_of
from edge.identity import Identifier
from edge.middleware import RateLimitMiddleware, RequestIdMiddleware
from edge.openapi import build_openapi
from edge.ratelimit import RateLimiter
from edge.routes import Router
from edge.settings import EdgeSettings
from edge.state import EdgeState
from edge.transcode import dumps
from edge.upstreams import Upstreams
from services.runtime.clients import Clients
from services.runtime.remote_auth import remote_authenticator
from services.runtime.telemetry import configure_tracing
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)

#: Entered with the running state after start-up (e.g. a Socket.io server's background tasks).
LifespanHook = Callable[[EdgeState], AbstractAsyncContextManager[None]]

_ALLOWED_HEADERS = ["authorization", "content-type", "accept", "x-request-id", "x-api-key"]
_EXPOSED_HEADERS = [
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "retry-after",
    "server-timing",
]


def create_app(
    settings: EdgeSettings,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
) -> Starlette:
    """The edge's ASGI app; reading the contracts happens here, connecting in its lifespan."""
    bindings = bindings_of(load_services())
    router = Router(bindings)
    openapi = dumps(build_openapi(bindings, load_comments(settings.descriptor_set_path)))
    upstream_names = sorted({b.upstream for b in bindings})
    # Rules may use `custom` verbs beyond the usual five; each must reach the one API endpoint.
    methods = sorted(set(api.HTTP_METHODS) | {b.http_method for b in bindings})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.otel_exporter != "none":
            configure_tracing("edge", settings.otel_exporter)
        clients = Clients(settings)
        upstreams = Upstreams(settings)
        # No socket_timeout: the limiter bounds its own calls (see edge/ratelimit.py), health its ping.
        redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=settings.rate_limit_timeout_seconds)
        try:
            tokens = ServiceTokens(settings.resolved_internal_secret(), "edge")
            state = EdgeState(
                settings=settings,
                bindings=bindings,
                router=router,
                upstream_names=upstream_names,
                openapi=openapi,
                clients=clients,
                upstreams=upstreams,
                redis=redis,
                limiter=RateLimiter(
                    redis,
                    settings.rate_limit_key_prefix,
                    settings.rate_limit_window_seconds,
                    settings.rate_limit_timeout_seconds,
                ),
                identifier=Identifier(settings, remote_authenticator(clients, tokens)),
            )
            for name in upstream_names:
                upstreams.channel(name)
            app.state.edge = state
            async with AsyncExitStack() as hooks:
                for hook in lifespan_hooks:
                    await hooks.enter_async_context(hook(state))
                log.info("edge ready", extra={"routes": len(bindings), "upstreams": upstream_names})
                yield
        finally:
            await upstreams.close()
            await clients.close()
            await redis.aclose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        *docs_routes(settings.docs_assets_dir),
        Route("/v1/{path:path}", api.handle, methods=methods),
        *extra_routes,
    ]
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=methods,
            allow_headers=_ALLOWED_HEADERS,
            expose_headers=_EXPOSED_HEADERS,
            max_age=settings.cors_max_age_seconds,
        ),
        Middleware(RateLimitMiddleware),
    ]
    if settings.otel_exporter != "none":
        # A server span per REST request, parent of its upstream calls. Socket.io has its own per event
        # (edge/realtime/namespace.py); a span per websocket frame would cost every streamed chunk.
        tracing = Middleware(
            OpenTelemetryMiddleware, excluded_urls="/socket.io/,/healthz", exclude_spans=["receive", "send"]
        )
        middleware.insert(0, tracing)
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (paths outside the API) in the same JSON error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED}.get(status, grpc.StatusCode.UNKNOWN)
    error = EdgeError(code, str(getattr(exc, "detail", "")) or "error", reason="HTTP_ERROR", http_status=status)
    headers = dict(getattr(exc, "headers", None) or {})
    return api.json_response(error.body(), status, headers)
