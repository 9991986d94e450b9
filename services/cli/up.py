"""`avatarchat up`: database, migrations, every service as its own process, demo data, then wait."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
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


def _start(name: str, env: dict[str, str], log_dir: Path) -> Child:
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", f"services.{name}"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Child(name, process, log)


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
        tenant = asyncio.run(seed_demo(settings))
        _print_urls(settings, tenant, log_dir)
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


def _print_urls(settings: RuntimeSettings, tenant: str, log_dir: Path) -> None:
    print("\navatarchat is running:")
    for name in RUNNABLE_SERVICES:
        metrics = SERVICE_PORTS[name] + METRICS_PORT_OFFSET
        print(
            f"  {name:<13} grpc {settings.address_of(name):<17} metrics http://{settings.grpc_host}:{metrics}/metrics"
        )
    print(f"\n  demo tenant   {tenant} (slug '{DEMO_SLUG}'), owner {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(f"  logs          {log_dir}/<service>.log")
    print("  try          .venv/bin/grpcurl -plaintext 127.0.0.1:3002 list")
    print("\nCtrl-C stops everything.", flush=True)
