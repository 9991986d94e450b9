"""REST-through-the-edge vs direct gRPC latency: prints a p50/p99 table.

Starts its own embedded PostgreSQL, the auth and tenant services and the edge, each as its own
process as `avatarchat up` does, on free loopback ports; then times sequential calls from this process.

    .venv/bin/python -m bench.edge_rest_bench [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import MIGRATED_SERVICES
from services.cli.health import wait_serving
from services.runtime import embedded_pg, migrations
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings

PASSWORD = "benchmark passphrase"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def timed(call: Callable[[], Awaitable[object]], count: int, warmup: int) -> list[float]:
    """Milliseconds per call over `count` sequential calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    """One table line: p50, p99 and mean in milliseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return f"| {name:<44} | {cuts[49]:>7.3f} | {cuts[98]:>7.3f} | {statistics.fmean(samples):>7.3f} |"


async def measure(settings: RuntimeSettings, edge_url: str, count: int) -> None:
    """Signs a tenant up, then times each pair of equivalent calls."""
    tenant_channel = grpc.aio.insecure_channel(settings.address_of("tenant"))
    auth_channel = grpc.aio.insecure_channel(settings.address_of("auth"))
    tenants = tenant_pb2_grpc.TenantServiceStub(tenant_channel)
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    slug = f"bench-{uuid.uuid4().hex[:10]}"
    email = f"owner@{slug}.example"
    created = await tenants.CreateTenant(
        tenant_pb2.CreateTenantRequest(
            tenant=tenant_pb2.Tenant(slug=slug, display_name="Bench"), owner_email=email, owner_password=PASSWORD
        )
    )
    token = (await auth.Login(auth_pb2.LoginRequest(tenant_slug=slug, email=email, password=PASSWORD))).tokens
    metadata = (("authorization", f"Bearer {token.access_token}"),)
    name = created.tenant.name
    headers = {"authorization": f"Bearer {token.access_token}"}
    warmup = max(50, count // 10)
    async with httpx.AsyncClient(base_url=edge_url, timeout=10.0) as http:

        async def rest(path: str, auth_headers: dict[str, str] | None = None) -> None:
            response = await http.get(path, headers=auth_headers)
            if response.status_code >= 500:
                raise RuntimeError(response.text)

        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("gRPC  LookupTenant (public)", lambda: tenants.LookupTenant(tenant_pb2.LookupTenantRequest(slug=slug))),
            ("REST  GET /v1/tenants:lookup?slug=", lambda: rest(f"/v1/tenants:lookup?slug={slug}")),
            (
                "gRPC  GetLimits (JWT)",
                lambda: tenants.GetLimits(tenant_pb2.GetLimitsRequest(name=name), metadata=metadata),
            ),
            ("REST  GET /v1/{name}/limits (JWT)", lambda: rest(f"/v1/{name}/limits", headers)),
            ("REST  GET /v1/unknown → 404 (edge only, JWT)", lambda: rest("/v1/unknown", headers)),
        ]
        results = {label: await timed(call, count, warmup) for label, call in cases}
    await tenant_channel.close()
    await auth_channel.close()
    print(f"\n{count} sequential calls each (after {warmup} warm-up), milliseconds, one client on loopback:\n")
    print(f"| {'call':<44} | {'p50':>7} | {'p99':>7} | {'mean':>7} |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for label, samples in results.items():
        print(row(label, samples))
    print()
    for (grpc_label, _), (rest_label, _) in ((cases[0], cases[1]), (cases[2], cases[3])):
        g, r = statistics.median(results[grpc_label]), statistics.median(results[rest_label])
        print(f"REST overhead at p50 over {grpc_label.split()[1]}: {r - g:+.3f} ms ({r / g:.1f}x)")


def main() -> None:
    """Starts the processes, measures, and stops everything it started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as scratch:
        data_dir = Path(scratch)
        url = embedded_pg.ensure_database(data_dir)
        migrations.migrate(url, MIGRATED_SERVICES)
        addresses = {name: f"127.0.0.1:{free_port()}" for name in SERVICE_PORTS}
        edge_port = free_port()
        env = {
            **os.environ,
            "AVATARCHAT_DATA_DIR": str(data_dir),
            "AVATARCHAT_DATABASE_URL": url,
            "AVATARCHAT_INTERNAL_SECRET": secrets.token_urlsafe(48),
            "AVATARCHAT_SERVICE_ADDRESSES": json.dumps(addresses),
            "AVATARCHAT_REDIS_URL": "redis://127.0.0.1:6379/9",
            "AVATARCHAT_METRICS_ENABLED": "false",
            "AVATARCHAT_LOG_LEVEL": "WARNING",
            "AVATARCHAT_HTTP_PORT": str(edge_port),
            "AVATARCHAT_HEALTH_REQUIRED_SERVICES": json.dumps(["auth", "tenant"]),
            # Limits stay on (one Redis round trip per request is part of the cost), but never bite.
            "AVATARCHAT_RATE_LIMIT_USER": "100000000",
            "AVATARCHAT_RATE_LIMIT_ANONYMOUS": "100000000",
            "AVATARCHAT_RATE_LIMIT_ADDRESS": "100000000",
        }
        settings = RuntimeSettings(data_dir=data_dir, database_url=url, service_addresses=addresses)
        modules = ["services.auth", "services.tenant", "edge"]
        children = [
            subprocess.Popen([sys.executable, "-m", m], env=env, cwd=root, stderr=subprocess.DEVNULL) for m in modules
        ]
        try:
            asyncio.run(_run(settings, f"http://127.0.0.1:{edge_port}", args.requests))
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
            embedded_pg.stop(data_dir)


async def _run(settings: RuntimeSettings, edge_url: str, count: int) -> None:
    for service in ("auth", "tenant"):
        if not await wait_serving(settings, service, within_seconds=60):
            raise RuntimeError(f"{service} did not start")
    async with httpx.AsyncClient(base_url=edge_url) as http:
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the edge did not start")
    await measure(settings, edge_url, count)


if __name__ == "__main__":
    main()
