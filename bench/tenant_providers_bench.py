"""What tenants' own provider keys add to an answer: TenantProviders.for_tenant on its cached and reload paths.

Starts its own embedded PostgreSQL (migrated) and uses the machine's Redis (db 9, random tenant ids). Half the
tenants hold a credential. It times the lookup every non-cached answer makes before calling a provider: the
cached path (one Redis round trip comparing the stamp), sequentially and with many answers at once, and the
path right after a change (stamp moved: database read, unseal, new SDK client).

    .venv/bin/python -m bench.tenant_providers_bench [--tenants 500] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from pydantic import SecretStr

from services.ai.credential_store import CredentialStore
from services.ai.credentials import CredentialStamps, ProviderCredentials
from services.ai.providers.base import ProviderConfig
from services.ai.providers.catalog import build_provider
from services.ai.tenant_providers import TenantProviders
from services.cli.catalog import MIGRATED_SERVICES
from services.runtime import embedded_pg, migrations
from services.runtime.db import Database
from services.runtime.sealing import Sealer

PLATFORM = ProviderConfig(id="openai", api_key=SecretStr("sk-platform"))


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _timed(cache: TenantProviders, tenant: uuid.UUID) -> float:
    started = time.perf_counter()
    await cache.for_tenant(tenant)
    return (time.perf_counter() - started) * 1000


async def run(url: str, tenants: int, rounds: int) -> list[tuple[str, int, float, float]]:
    """Rows of (case, calls, p50 ms, p99 ms)."""
    db = Database("ai", {"default": url})
    redis = aioredis.Redis.from_url("redis://127.0.0.1:6379/9")
    platform = {"openai": build_provider(PLATFORM)}
    credentials = ProviderCredentials(
        CredentialStore(db), Sealer.from_settings("", "bench", setting="k", info=b"bench"), CredentialStamps(redis, 600)
    )
    cache = TenantProviders([PLATFORM], platform, credentials, read_timeout=5.0)
    ids = [uuid.uuid4() for _ in range(tenants)]
    for tenant in ids[::2]:
        await credentials.set(tenant, "openai", "sk-" + tenant.hex, "", "bench")
    rows: list[tuple[str, int, float, float]] = []
    try:
        for tenant in ids:
            await cache.for_tenant(tenant)
        sequential = [await _timed(cache, ids[i % tenants]) for i in range(tenants * rounds)]
        rows.append(("cached, one at a time", len(sequential), *_quantiles(sequential)))
        concurrent: list[float] = []
        for _ in range(rounds):
            concurrent += await asyncio.gather(*(_timed(cache, t) for t in ids))
        rows.append((f"cached, {tenants} at once", len(concurrent), *_quantiles(concurrent)))
        changed: list[float] = []
        for tenant in ids[: min(100, tenants)]:
            await credentials.set(tenant, "openai", "sk-new-" + tenant.hex, "", "bench")
            changed.append(await _timed(cache, tenant))
        rows.append(("first answer after a set", len(changed), *_quantiles(changed)))
    finally:
        await cache.aclose()
        await platform["openai"].aclose()
        await redis.aclose()
        await db.close()
    return rows


def main() -> None:
    """Prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenant-providers-bench-") as scratch:
        data_dir = Path(scratch)
        url = embedded_pg.ensure_database(data_dir)
        try:
            migrations.migrate(url, MIGRATED_SERVICES)
            rows = asyncio.run(run(url, args.tenants, args.rounds))
        finally:
            embedded_pg.stop(data_dir)
    print(f"{'case':<28} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for case, calls, p50, p99 in rows:
        print(f"{case:<28} {calls:>6} {p50:>8.3f} {p99:>8.3f}")


if __name__ == "__main__":
    main()
