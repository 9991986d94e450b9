"""`avatarchat up`: database, migrations, every service as its own process, demo data, the edge, then wait."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.cli.catalog import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG, MIGRATED_SERVICES, RUNNABLE_SERVICES
from services.cli.health import wait_serving
from services.cli.seed import seed_demo
from services.runtime import embedded_pg, migrations
from services.runtime.db import database_url
from services.runtime.settings import METRICS_PORT_OFFSET, SERVICE_PORTS, RuntimeSettings


@dataclass
class Child:
    """One service process and where its log goes."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


#: The edge is not a gRPC service: it runs as `python -m edge` and is healthy when GET /healthz answers 200.
EDGE = "edge"


#: Queue consumers that run beside the services: name → module.
WORKERS: dict[str, str] = {"knowledge-worker": "services.knowledge.worker"}


def _start(name: str, env: dict[str, str], log_dir: Path, module: str | None = None) -> Child:
    log = log_dir / f"{name}.log"
    module = module or (EDGE if name.startswith(EDGE) else f"services.{name}")
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Child(name, process, log)


def _edge_url() -> tuple[str, int]:
    """Where the edge listens and how many processes serve it (AVATARCHAT_HTTP_HOST/PORT, AVATARCHAT_PROCESSES)."""
    from edge.settings import EdgeSettings

    edge = EdgeSettings()
    return f"http://{edge.http_host}:{edge.http_port}", edge.processes or os.cpu_count() or 1


def _start_edges(count: int, env: dict[str, str], log_dir: Path) -> list[Child]:
    """`count` edge processes on one port (SO_REUSEPORT), sharing rooms and state through Redis."""
    edge_env = {**env, "AVATARCHAT_REUSE_PORT": "true"} if count > 1 else env
    return [_start(EDGE if i == 0 else f"{EDGE}-{i + 1}", edge_env, log_dir) for i in range(count)]


def _wait_http(url: str, child: Child, within_seconds: float) -> bool:
    """Polls GET `url` until it answers 200, the process exits, or time runs out."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline and child.process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _stop(children: list[Child], grace: float) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.process.wait(timeout=grace + 5)
        except subprocess.TimeoutExpired:
            child.process.kill()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _wait_all(settings: RuntimeSettings, children: list[Child]) -> Child | None:
    """Waits until each service is SERVING; returns the first one that failed."""
    for child in children:
        if not await wait_serving(settings, child.name, within_seconds=60):
            return child
    return None


def up(settings: RuntimeSettings) -> int:
    """Starts everything and blocks until Ctrl-C or SIGTERM; returns the exit status."""
    embedded = not settings.database_url
    url = database_url(settings)
    applied = migrations.migrate(url, MIGRATED_SERVICES)
    print(
        f"database ready ({'embedded, ' + str(settings.data_dir / 'postgres') if embedded else 'external'}); "
        f"{len(applied)} migrations applied"
    )
    env = {
        **os.environ,
        "AVATARCHAT_DATABASE_URL": url,
        "AVATARCHAT_INTERNAL_SECRET": settings.resolved_internal_secret(),
        "AVATARCHAT_DATA_DIR": str(settings.data_dir),
    }
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    children = [_start(name, env, log_dir) for name in RUNNABLE_SERVICES]
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        failed = asyncio.run(_wait_all(settings, children))
        if failed is not None:
            print(f"{failed.name} did not become healthy; last log lines ({failed.log}):\n{_tail(failed.log)}")
            return 1
        children += [_start(name, env, log_dir, module) for name, module in WORKERS.items()]
        tenant = asyncio.run(seed_demo(settings))
        edge_url, processes = _edge_url()
        edges = _start_edges(processes, env, log_dir)
        children += edges
        for edge in edges:
            if not _wait_http(f"{edge_url}/healthz", edge, within_seconds=60):
                print(f"{edge.name} did not become healthy; last log lines ({edge.log}):\n{_tail(edge.log)}")
                return 1
        _print_urls(settings, tenant, log_dir, edge_url, processes)
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    print(f"{child.name} exited with {child.process.returncode}; see {child.log}\n{_tail(child.log)}")
                    return 1
            time.sleep(0.5)
        print("stopping…")
        return 0
    finally:
        _stop(children, settings.shutdown_grace_seconds)
        if embedded:
            embedded_pg.stop(settings.data_dir)
        print("stopped")


def _print_urls(settings: RuntimeSettings, tenant: str, log_dir: Path, edge_url: str, processes: int) -> None:
    print("\navatarchat is running:")
    for name in RUNNABLE_SERVICES:
        metrics = SERVICE_PORTS[name] + METRICS_PORT_OFFSET
        print(
            f"  {name:<13} grpc {settings.address_of(name):<17} metrics http://{settings.grpc_host}:{metrics}/metrics"
        )
    print(f"  {EDGE:<13} http {edge_url}  (REST, Socket.io /widget, /embed.js; {processes} processes)")
    print(f"\n  dashboard     {edge_url}/docs  (REST API with Swagger UI; sign in as the demo owner)")
    print(f"  demo page     {edge_url}/demo  (the demo bot's widget embedded)")
    print(f"  REST docs     {edge_url}/docs  ·  OpenAPI {edge_url}/openapi.json")
    print(f"\n  demo tenant   {tenant} (slug '{DEMO_SLUG}'), owner {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(f"  logs          {log_dir}/<service>.log")
    print("  try          .venv/bin/grpcurl -plaintext 127.0.0.1:3002 list")
    print("\nCtrl-C stops everything.", flush=True)
