"""Defense in depth: row-level security and per-service roles hold even when a query forgets its WHERE."""

from __future__ import annotations

import uuid
from typing import cast

import asyncpg
import pytest

from services.runtime.db import Database, ServiceConnection, shard_urls
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
            # The session is the service's role from the start; the transactions' tenants were local.
            assert await conn.fetchval("SELECT current_user") == "avatarchat_tenant"
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


async def test_a_tenant_statement_sees_only_its_tenant_and_no_tenant_outlives_it_where_it_must_not(
    stack: Stack, settings: RuntimeSettings
) -> None:
    a = await stack.new_tenant("stmt-a")
    b = await stack.new_tenant("stmt-b")
    # One connection, so every use below meets the session the one before it left.
    db = Database("tenant", shard_urls(settings), min_size=1, max_size=1)
    try:
        async with db.tenant_statement(a.tenant_id) as conn:
            assert not conn.is_in_transaction()
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {a.tenant_id}
            # Each statement is its own transaction: a failed one leaves the connection usable, the tenant kept.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM auth.users")
            await conn.execute("UPDATE tenant.tenants SET display_name = 'x' WHERE id = $1", b.tenant_id)
        async with db.tenant_tx(b.tenant_id) as conn:
            # The session's tenant (a) gives way to the transaction's.
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {b.tenant_id}
            assert await conn.fetchval("SELECT display_name FROM tenant.tenants WHERE id = $1", b.tenant_id) != "x"
        async with db.platform_tx() as conn:
            # Platform work runs with no tenant, whatever the session was last set to: the tenant list is whole
            # (its policy's platform view) and no tenant's usage is visible.
            assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == ""
            assert {a.tenant_id, b.tenant_id} <= {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")}
            assert await conn.fetch("SELECT tenant_id FROM tenant.usage") == []
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO tenant.usage (tenant_id, kind, period) VALUES ($1, 'seats', 'x')", a.tenant_id
                )
        async with db.tenant_statement(b.tenant_id) as conn:
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {b.tenant_id}
        async with db.tenant_statement(a.tenant_id) as conn:
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {a.tenant_id}
            assert await conn.fetchval("SELECT current_user") == "avatarchat_tenant"
    finally:
        await db.close()


async def test_the_session_tenant_is_never_set_inside_a_transaction(stack: Stack, settings: RuntimeSettings) -> None:
    a = await stack.new_tenant("stmt-tx")
    b = await stack.new_tenant("stmt-tx-b")
    db = Database("tenant", shard_urls(settings), min_size=1, max_size=1)
    try:
        async with db.tenant_statement(a.tenant_id) as conn:
            # A session-level set inside a transaction would be undone by its rollback, unknown to the record.
            with pytest.raises(RuntimeError, match="outside a transaction"):
                async with conn.transaction():
                    await cast(ServiceConnection, conn).use_tenant(b.tenant_id)
            assert {r["id"] for r in await conn.fetch("SELECT id FROM tenant.tenants")} == {a.tenant_id}
    finally:
        await db.close()
