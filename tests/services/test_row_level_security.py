"""Defense in depth: row-level security and per-service roles hold even when a query forgets its WHERE."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.runtime.db import Database, shard_urls
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import Stack


async def test_tenant_transaction_sees_only_its_tenant_without_a_where_clause(
    stack: Stack, settings: RuntimeSettings
) -> None:
    a = await stack.new_tenant("rls-a")
    b = await stack.new_tenant("rls-b")
    db = await Database.connect(settings, "tenant")
    try:
        async with db.tenant_tx(a.tenant_id) as conn:
            tenants = {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")}
            usage_tenants = {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM tenant.usage")}
            # Writes to another tenant's rows match nothing.
            await conn.execute("UPDATE tenant.tenants SET display_name = 'x' WHERE id = $1", b.tenant_id)
        assert tenants == {a.tenant_id}
        assert usage_tenants == {a.tenant_id}
        async with db.tenant_tx(b.tenant_id) as conn:
            assert await conn.fetchval("SELECT display_name FROM tenant.tenants WHERE id = $1", b.tenant_id) != "x"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO tenant.usage (tenant_id, kind, period) VALUES ($1, 'seats', 'x')", a.tenant_id
                )
    finally:
        await db.close()


async def test_a_service_role_cannot_read_another_services_schema(stack: Stack, settings: RuntimeSettings) -> None:
    account = await stack.new_tenant("rls-c")
    db = await Database.connect(settings, "tenant")
    try:
        async with db.tenant_tx(account.tenant_id) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM auth.users")
    finally:
        await db.close()


async def test_a_tenant_transaction_commits_rolls_back_and_leaves_nothing_behind_on_its_connection(
    stack: Stack, settings: RuntimeSettings
) -> None:
    a = await stack.new_tenant("tx-a")
    b = await stack.new_tenant("tx-b")
    # One connection, so each transaction reuses the last one's session.
    db = Database("tenant", shard_urls(settings), min_size=1, max_size=1)
    try:
        async with db.tenant_tx(a.tenant_id) as conn:
            await conn.execute("UPDATE tenant.tenants SET display_name = 'committed' WHERE id = $1", a.tenant_id)
        with pytest.raises(RuntimeError, match="boom"):
            await _rename_then(db, a.tenant_id, "rolled back", "raise")
        with pytest.raises(asyncpg.UniqueViolationError):
            await _rename_then(db, a.tenant_id, "lost", "duplicate")
        async with db.tenant_tx(a.tenant_id) as conn:
            assert await conn.fetchval("SELECT display_name FROM tenant.tenants WHERE id = $1", a.tenant_id) == (
                "committed"
            )
            with pytest.raises(asyncpg.InterfaceError, match="manually started transaction"):
                async with conn.transaction():
                    pass
        async with db.tenant_tx(b.tenant_id) as conn:
            # The previous transaction's tenant and role are gone from the shared connection.
            assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == str(b.tenant_id)
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {b.tenant_id}
        pool = await db.pool_for(None)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_user") != "avatarchat_tenant"
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
    finally:
        await db.close()


async def _rename_then(db: Database, tenant_id: uuid.UUID, name: str, failure: str) -> None:
    """Renames the tenant inside a transaction that then fails in Python or in the database."""
    async with db.tenant_tx(tenant_id) as conn:
        await conn.execute("UPDATE tenant.tenants SET display_name = $2 WHERE id = $1", tenant_id, name)
        if failure == "raise":
            raise RuntimeError("boom")
        await conn.execute("INSERT INTO tenant.tenants SELECT * FROM tenant.tenants WHERE id = $1", tenant_id)


async def test_a_tenant_read_sees_only_its_tenant_refuses_writes_and_ends_before_the_connection_is_reused(
    stack: Stack, settings: RuntimeSettings
) -> None:
    a = await stack.new_tenant("read-a")
    b = await stack.new_tenant("read-b")
    # One connection: the next user waits for the read's background COMMIT and finds no transaction open.
    db = Database("tenant", shard_urls(settings), min_size=1, max_size=1)
    try:
        async with db.tenant_read(a.tenant_id) as conn:
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {a.tenant_id}
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with db.tenant_read(a.tenant_id) as conn:
                await conn.execute("UPDATE tenant.tenants SET display_name = 'written' WHERE id = $1", a.tenant_id)
        async with db.tenant_tx(b.tenant_id) as conn:
            assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == str(b.tenant_id)
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {b.tenant_id}
        async with db.tenant_read(a.tenant_id) as conn:
            assert await conn.fetchval("SELECT display_name FROM tenant.tenants WHERE id = $1", a.tenant_id) != (
                "written"
            )
        pool = await db.pool_for(None)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
    finally:
        await db.close()
