"""SQL of the tenant service: tenants, plans, shards and usage counters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.runtime import errors
from services.runtime.db import Connection, Database

LIMIT_COLUMNS = ("chatbots", "messages_per_month", "knowledge_documents", "storage_bytes", "seats")
MONTHLY = frozenset({"messages_per_month"})


@dataclass(frozen=True)
class PlanRow:
    """A plan and its limits (-1 = unlimited)."""

    id: str
    display_name: str
    monthly_price_micros: int
    currency_code: str
    limits: dict[str, int]


@dataclass(frozen=True)
class TenantRow:
    """A tenant as stored."""

    id: uuid.UUID
    slug: str
    display_name: str
    state: str
    plan_id: str
    shard_id: str
    config: dict[str, Any]
    owner_email: str
    owner_user: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Usage:
    """One limit with its current usage."""

    kind: str
    limit: int
    used: int


@dataclass
class NewTenant:
    """What CreateTenant stores before the owner exists."""

    slug: str
    display_name: str
    plan_id: str
    owner_email: str
    config: dict[str, Any] = field(default_factory=dict)


def _plan(row: asyncpg.Record) -> PlanRow:
    return PlanRow(
        id=row["id"],
        display_name=row["display_name"],
        monthly_price_micros=row["monthly_price_micros"],
        currency_code=row["currency_code"],
        limits={c: row[c] for c in LIMIT_COLUMNS},
    )


def _tenant(row: asyncpg.Record) -> TenantRow:
    return TenantRow(**{k: row[k] for k in TenantRow.__dataclass_fields__})


def period_of(kind: str, now: datetime) -> str:
    """The counter period of a limit: the UTC month for monthly limits, '' for gauges."""
    return now.strftime("%Y-%m") if kind in MONTHLY else ""


_TENANT_COLUMNS = (
    "id, slug, display_name, state, plan_id, shard_id, config, owner_email, owner_user, create_time, update_time"
)


class TenantStore:
    """Reads and writes the tenant schema; every tenant-scoped query runs inside db.tenant_tx."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def plans(self) -> list[PlanRow]:
        """Every plan, cheapest first."""
        async with self._db.platform_tx() as conn:
            rows = await conn.fetch("SELECT * FROM tenant.plans ORDER BY sort_order")
        return [_plan(r) for r in rows]

    async def plan(self, plan_id: str) -> PlanRow | None:
        """One plan, or None."""
        async with self._db.platform_tx() as conn:
            row = await conn.fetchrow("SELECT * FROM tenant.plans WHERE id = $1", plan_id)
        return _plan(row) if row else None

    async def pick_shard(self, conn: Connection, configured: set[str]) -> str:
        """The accepting, configured shard with the fewest tenants."""
        shard: str | None = await conn.fetchval(
            """SELECT s.id FROM tenant.shards s LEFT JOIN tenant.tenants t ON t.shard_id = s.id
               WHERE s.accepting AND s.id = ANY($1::text[])
               GROUP BY s.id ORDER BY count(t.id), s.id LIMIT 1""",
            sorted(configured),
        )
        if shard is None:
            raise errors.FailedPrecondition("no database shard accepts new tenants")
        return shard

    async def register_shards(self, shard_ids: set[str]) -> None:
        """Makes sure every configured shard has a row."""
        async with self._db.platform_tx() as conn:
            await conn.executemany(
                "INSERT INTO tenant.shards (id) VALUES ($1) ON CONFLICT DO NOTHING", [(s,) for s in shard_ids]
            )

    async def create(self, new: NewTenant, shards: set[str]) -> TenantRow:
        """Inserts a tenant in state provisioning on the least-loaded shard; ALREADY_EXISTS for a taken slug."""
        tenant_id = uuid.uuid4()
        async with self._db.platform_tx() as conn:
            shard = await self.pick_shard(conn, shards)
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO tenant.tenants
                          (id, slug, display_name, state, plan_id, shard_id, config, owner_email)
                        VALUES ($1, $2, $3, 'provisioning', $4, $5, $6, $7) RETURNING {_TENANT_COLUMNS}""",
                    tenant_id,
                    new.slug,
                    new.display_name,
                    new.plan_id,
                    shard,
                    new.config,
                    new.owner_email,
                )
            except asyncpg.UniqueViolationError:
                raise errors.AlreadyExists(f"tenant {new.slug}", "tenant.slug") from None
        assert row is not None
        return _tenant(row)

    async def get(self, tenant_id: uuid.UUID) -> TenantRow | None:
        """One tenant, read as that tenant (RLS-scoped)."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenant.tenants WHERE id = $1", tenant_id)
        return _tenant(row) if row else None

    async def by_slug(self, slug: str) -> TenantRow | None:
        """The tenant with `slug`, or None."""
        async with self._db.platform_tx() as conn:
            row = await conn.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenant.tenants WHERE slug = $1", slug)
        return _tenant(row) if row else None

    async def update(self, tenant_id: uuid.UUID, changes: dict[str, Any]) -> TenantRow | None:
        """Sets the given columns (display_name, config, state, plan_id, owner_user); None when missing."""
        allowed = {"display_name", "config", "state", "plan_id", "owner_user"}
        if not changes.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(changes.keys() - allowed)}")
        sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                f"UPDATE tenant.tenants SET {sets}, update_time = now() WHERE id = $1 RETURNING {_TENANT_COLUMNS}",
                tenant_id,
                *changes.values(),
            )
        return _tenant(row) if row else None

    async def page(self, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[TenantRow]:
        """Tenants newest first, after a keyset cursor."""
        async with self._db.platform_tx() as conn:
            if after is None:
                rows = await conn.fetch(
                    f"SELECT {_TENANT_COLUMNS} FROM tenant.tenants ORDER BY create_time DESC, id DESC LIMIT $1",
                    limit,
                )
            else:
                rows = await conn.fetch(
                    f"""SELECT {_TENANT_COLUMNS} FROM tenant.tenants WHERE (create_time, id) < ($1, $2)
                        ORDER BY create_time DESC, id DESC LIMIT $3""",
                    after[0],
                    after[1],
                    limit,
                )
        return [_tenant(r) for r in rows]

    async def usage(self, tenant_id: uuid.UUID, now: datetime) -> tuple[str, list[Usage]] | None:
        """The tenant's plan and every limit with its usage; None when the tenant is missing."""
        async with self._db.tenant_tx(tenant_id) as conn:
            plan_row = await conn.fetchrow(
                "SELECT p.* FROM tenant.tenants t JOIN tenant.plans p ON p.id = t.plan_id WHERE t.id = $1",
                tenant_id,
            )
            if plan_row is None:
                return None
            used = {
                (r["kind"], r["period"]): r["used"]
                for r in await conn.fetch("SELECT kind, period, used FROM tenant.usage WHERE tenant_id = $1", tenant_id)
            }
        plan = _plan(plan_row)
        return plan.id, [
            Usage(kind, plan.limits[kind], used.get((kind, period_of(kind, now)), 0)) for kind in LIMIT_COLUMNS
        ]

    @staticmethod
    async def _limit(conn: Connection, tenant_id: uuid.UUID, kind: str) -> int | None:
        if kind not in LIMIT_COLUMNS:
            raise ValueError(f"unknown limit {kind!r}")
        # `kind` is one of LIMIT_COLUMNS (checked above), so naming the column in SQL is safe.
        limit: int | None = await conn.fetchval(
            f"SELECT p.{kind} FROM tenant.tenants t JOIN tenant.plans p ON p.id = t.plan_id WHERE t.id = $1",
            tenant_id,
        )
        return limit

    async def reserve(self, tenant_id: uuid.UUID, kind: str, amount: int, now: datetime) -> Usage | None:
        """Adds `amount` to a counter if the plan allows it; LIMIT_EXCEEDED otherwise; None for no tenant."""
        period = period_of(kind, now)
        if kind not in LIMIT_COLUMNS:
            raise ValueError(f"unknown limit {kind!r}")
        async with self._db.tenant_statement(tenant_id) as conn:
            # One statement reads the plan's limit and takes the amount: every message pays for this call, so it
            # is one round trip (its own transaction). The upsert's conditional update is the whole check, and
            # concurrent reservations serialise on the counter's row lock. `kind` is one of LIMIT_COLUMNS, so
            # naming the column is safe.
            row = await conn.fetchrow(
                f"""WITH plan AS (
                      SELECT p.{kind} AS lim FROM tenant.tenants t JOIN tenant.plans p ON p.id = t.plan_id
                      WHERE t.id = $1::uuid
                    ), taken AS (
                      INSERT INTO tenant.usage AS u (tenant_id, kind, period, used)
                      SELECT $1::uuid, $2::text, $3::text, $4::bigint FROM plan WHERE plan.lim < 0 OR $4 <= plan.lim
                      ON CONFLICT (tenant_id, kind, period) DO UPDATE SET used = u.used + EXCLUDED.used
                      WHERE (SELECT lim FROM plan) < 0 OR u.used + EXCLUDED.used <= (SELECT lim FROM plan)
                      RETURNING u.used
                    )
                    SELECT plan.lim, (SELECT used FROM taken) AS used FROM plan""",
                tenant_id,
                kind,
                period,
                amount,
            )
            if row is None:
                return None
            limit, used = row["lim"], row["used"]
            if used is None:
                current = await conn.fetchval(
                    "SELECT used FROM tenant.usage WHERE tenant_id = $1 AND kind = $2 AND period = $3",
                    tenant_id,
                    kind,
                    period,
                )
                raise errors.LimitExceeded(kind, int(current or 0), int(limit))
        return Usage(kind, int(limit), int(used))

    async def release(self, tenant_id: uuid.UUID, kind: str, amount: int, now: datetime) -> Usage | None:
        """Subtracts `amount` from a counter, never below zero; None for no tenant."""
        period = period_of(kind, now)
        async with self._db.tenant_tx(tenant_id) as conn:
            limit = await self._limit(conn, tenant_id, kind)
            if limit is None:
                return None
            used = await conn.fetchval(
                """UPDATE tenant.usage SET used = greatest(used - $4, 0)
                   WHERE tenant_id = $1 AND kind = $2 AND period = $3 RETURNING used""",
                tenant_id,
                kind,
                period,
                amount,
            )
        return Usage(kind, int(limit), int(used or 0))
