"""Defense in depth: row-level security and per-service roles hold even when a query forgets its WHERE."""

from __future__ import annotations

import asyncpg
import pytest

from services.runtime.db import Database
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
