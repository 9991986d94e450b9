"""Health of running services through the standard gRPC health service."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.settings import RuntimeSettings


async def check(address: str, rpc_seconds: float = 2.0) -> str:
    """SERVING, NOT_SERVING, UNKNOWN or the gRPC error of one service's overall health."""
    async with grpc.aio.insecure_channel(address) as channel:
        # The typeshed stub of HealthStub declares no methods; the call itself is the standard one.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=rpc_seconds)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


async def check_all(settings: RuntimeSettings, services: tuple[str, ...]) -> dict[str, str]:
    """Health of each service by name, checked concurrently."""
    results = await asyncio.gather(*(check(settings.address_of(s)) for s in services))
    return dict(zip(services, results, strict=True))


async def wait_serving(settings: RuntimeSettings, service: str, within_seconds: float) -> bool:
    """Polls until `service` reports SERVING or `within_seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_seconds
    while loop.time() < deadline:
        if await check(settings.address_of(service), rpc_seconds=1.0) == "SERVING":
            return True
        await asyncio.sleep(0.2)
    return False
