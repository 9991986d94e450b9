"""REST-through-the-edge vs direct gRPC latency: prints a p50/p99 table and the edge's own share.

Starts its own embedded PostgreSQL, the auth and tenant services and the edge, each as its own
process as `avatarchat up` does, on free loopback ports; then times sequential calls from this process.

Both paths are timed from equally lean clients, one kept-alive connection each: grpc.aio for the
direct calls, aiohttp for REST. (httpx costs about a millisecond per request by itself on this
machine, which would be charged to the edge.) The edge's `Server-Timing` header gives its own share
(`edge;dur`, from the request reaching the app until the response starts, less the upstream call);
the client-observed overhead also holds the HTTP parsing and loopback hops of uvicorn and aiohttp.
Each of `--runs` rounds times every case in turn, a pair's direct and REST calls alternately: timed as
two blocks, a second of other processes' load on a shared machine falls on one side only and swung
the difference by more than a millisecond. The table shows the median of the rounds' figures.

    .venv/bin/python -m bench.edge_rest_bench [--requests 2000] [--runs 3] [--no-rate-limit]

`--no-rate-limit` turns the edge's limiter off, to show its share: the bucket lookup and local count of
every request, and one Redis call per leased block of units (edge/ratelimit.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import MIGRATED_SERVICES
from services.cli.health import wait_serving
from services.runtime import embedded_pg, migrations
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings

PASSWORD = "benchmark passphrase"
_TIMING = re.compile(r"\b(edge|upstream);dur=([0-9.]+)")


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Samples:
    """Client-observed milliseconds per call, and the edge's own (Server-Timing) for REST calls."""

    observed: list[float] = field(default_factory=list)
    edge: list[float] = field(default_factory=list)
    upstream: list[float] = field(default_factory=list)


def p(samples: list[float], q: int) -> float:
    """The q-th percentile."""
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else float("nan")


@dataclass(frozen=True)
class Pair:
    """One RPC called directly and through the edge."""

    name: str
    direct: Callable[[], Awaitable[dict[str, float]]]
    rest: Callable[[], Awaitable[dict[str, float]]]


async def _time_one(call: Callable[[], Awaitable[dict[str, float]]], samples: Samples) -> None:
    start = time.perf_counter()
    timings = await call()
    samples.observed.append((time.perf_counter() - start) * 1000)
    if "edge" in timings:
        samples.edge.append(timings["edge"])
    if "upstream" in timings:
        samples.upstream.append(timings["upstream"])


async def timed(call: Callable[[], Awaitable[dict[str, float]]], count: int, warmup: int) -> Samples:
    """Milliseconds per call over `count` sequential calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        await call()
    samples = Samples()
    for _ in range(count):
        await _time_one(call, samples)
    return samples


async def timed_pair(pair: Pair, count: int, warmup: int) -> tuple[Samples, Samples]:
    """Direct and REST calls alternately, so load from other processes on the machine falls on both alike."""
    for _ in range(warmup):
        await pair.direct()
        await pair.rest()
    direct, rest = Samples(), Samples()
    for _ in range(count):
        await _time_one(pair.direct, direct)
        await _time_one(pair.rest, rest)
    return direct, rest


async def measure(settings: RuntimeSettings, edge_url: str, count: int, runs: int) -> None:
    """Signs a tenant up, then times each pair of equivalent calls, `runs` rounds in turn."""
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
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(edge_url, connector=connector, timeout=aiohttp.ClientTimeout(10)) as http:

        async def rest(path: str, auth_headers: dict[str, str] | None = None) -> dict[str, float]:
            async with http.get(path, headers=auth_headers) as response:
                body = await response.read()
                if response.status >= 500:
                    raise RuntimeError(body.decode())
                return {k: float(v) for k, v in _TIMING.findall(response.headers.get("server-timing", ""))}

        async def lookup() -> dict[str, float]:
            await tenants.LookupTenant(tenant_pb2.LookupTenantRequest(slug=slug))
            return {}

        async def limits() -> dict[str, float]:
            await tenants.GetLimits(tenant_pb2.GetLimitsRequest(name=name), metadata=metadata)
            return {}

        pairs = [
            Pair("LookupTenant (public)", lookup, lambda: rest(f"/v1/tenants:lookup?slug={slug}")),
            Pair("GetLimits (JWT)", limits, lambda: rest(f"/v1/{name}/limits", headers)),
        ]
        edge_only: list[Samples] = []
        rounds: list[dict[str, tuple[Samples, Samples]]] = []
        for run in range(runs):
            results = {pair.name: await timed_pair(pair, count, warmup) for pair in pairs}
            edge_only.append(await timed(lambda: rest("/v1/unknown", headers), count, warmup))
            rounds.append(results)
            overheads = ", ".join(
                f"{n} {p(r.observed, 50) - p(d.observed, 50):+.3f} ms" for n, (d, r) in results.items()
            )
            print(f"round {run + 1}/{runs}: REST overhead at p50: {overheads}", flush=True)
    await tenant_channel.close()
    await auth_channel.close()
    _print_table(pairs, rounds, edge_only, count, warmup)


def _print_table(
    pairs: list[Pair],
    rounds: list[dict[str, tuple[Samples, Samples]]],
    edge_only: list[Samples],
    count: int,
    warmup: int,
) -> None:
    def med(figures: list[float]) -> float:
        return statistics.median(figures)

    print(
        f"\n{count} sequential calls per case and round (after {warmup} warm-up), {len(rounds)} round(s), "
        "milliseconds, one client on loopback; each figure is the median over the rounds:\n"
    )
    print(
        f"| {'RPC':<22} | {'gRPC p50':>8} | {'gRPC p99':>8} | {'REST p50':>8} | {'REST p99':>8} "
        f"| {'+p50':>7} | {'+p99':>7} | {'edge own p50':>12} | {'upstream p50':>12} |"
    )
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 14}|{'-' * 14}|")
    for pair in pairs:
        runs = [r[pair.name] for r in rounds]
        g50, g99 = med([p(d.observed, 50) for d, _ in runs]), med([p(d.observed, 99) for d, _ in runs])
        r50, r99 = med([p(r.observed, 50) for _, r in runs]), med([p(r.observed, 99) for _, r in runs])
        own, up = med([p(r.edge, 50) for _, r in runs]), med([p(r.upstream, 50) for _, r in runs])
        print(
            f"| {pair.name:<22} | {g50:>8.3f} | {g99:>8.3f} | {r50:>8.3f} | {r99:>8.3f} "
            f"| {r50 - g50:>+7.3f} | {r99 - g99:>+7.3f} | {own:>12.3f} | {up:>12.3f} |"
        )
    e50, e99 = med([p(s.observed, 50) for s in edge_only]), med([p(s.observed, 99) for s in edge_only])
    own = med([p(s.edge, 50) for s in edge_only])
    print(
        f"| {'REST 404 (edge only)':<22} | {'':>8} | {'':>8} | {e50:>8.3f} | {e99:>8.3f} "
        f"| {'':>7} | {'':>7} | {own:>12.3f} | {'':>12} |"
    )
    print(
        "\n+p50/+p99: REST minus direct gRPC as the client sees it. From the edge's Server-Timing: edge own "
        "(`edge;dur`, its time less the upstream call) and upstream (`upstream;dur`, the gRPC call as the edge saw it)."
    )


def main() -> None:
    """Starts the processes, measures, and stops everything it started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3, help="rounds of every case, in turn")
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="turn the edge's rate limiter off to show its share"
    )
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
            # Limits stay on but never bite. Blocks are capped at 20 units here as under the default user and
            # address limits, so this one client leases as a busy caller would (a quiet one costs a call per request).
            "AVATARCHAT_RATE_LIMIT_USER": "100000000",
            "AVATARCHAT_RATE_LIMIT_ANONYMOUS": "100000000",
            "AVATARCHAT_RATE_LIMIT_ADDRESS": "100000000",
            "AVATARCHAT_RATE_LIMIT_ENABLED": "false" if args.no_rate_limit else "true",
        }
        settings = RuntimeSettings(data_dir=data_dir, database_url=url, service_addresses=addresses)
        modules = ["services.auth", "services.tenant", "edge"]
        children = [
            subprocess.Popen([sys.executable, "-m", m], env=env, cwd=root, stderr=subprocess.DEVNULL) for m in modules
        ]
        try:
            asyncio.run(_run(settings, f"http://127.0.0.1:{edge_port}", args.requests, args.runs))
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
            embedded_pg.stop(data_dir)


async def _run(settings: RuntimeSettings, edge_url: str, count: int, runs: int) -> None:
    for service in ("auth", "tenant"):
        if not await wait_serving(settings, service, within_seconds=60):
            raise RuntimeError(f"{service} did not start")
    async with aiohttp.ClientSession(edge_url) as http:
        for _ in range(200):
            try:
                async with http.get("/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the edge did not start")
    await measure(settings, edge_url, count, runs)


if __name__ == "__main__":
    main()
