"""`GET /healthz`: the edge itself, its Redis, and the gRPC health of every upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from edge import transcode
from edge.state import EdgeState

SERVING = "SERVING"


async def _upstream(channel: grpc.aio.Channel, seconds: float) -> str:
    # The typeshed stub of HealthStub declares no methods; the call itself is the standard one.
    stub: Any = health_pb2_grpc.HealthStub(channel)
    try:
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=seconds)
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


async def _redis(edge: EdgeState) -> str:
    try:
        await asyncio.wait_for(edge.redis.ping(), edge.settings.health_timeout_seconds)
    except (RedisError, OSError, TimeoutError):
        return "UNAVAILABLE"
    return SERVING


async def healthz(request: Request) -> Response:
    """200 while every required upstream serves, else 503; always lists each part's state."""
    edge: EdgeState = request.app.state.edge
    timeout = edge.settings.health_timeout_seconds
    names = edge.upstream_names
    states = await asyncio.gather(*(_upstream(edge.upstreams.channel(n), timeout) for n in names), _redis(edge))
    upstreams = dict(zip(names, states[:-1], strict=True))
    required = [n for n in edge.settings.health_required_services if n in upstreams]
    healthy = all(upstreams[n] == SERVING for n in required)
    body = {
        "status": SERVING if healthy else "NOT_SERVING",
        "edge": SERVING,
        # Redis only backs rate limits, which fail open, so it is reported but never fails the check.
        "redis": states[-1],
        "required": required,
        "upstreams": upstreams,
    }
    return Response(
        transcode.dumps(body),
        200 if healthy else 503,
        {"cache-control": "no-store"},
        "application/json",
    )
