"""Tenant isolation: every tenant-owned RPC answers NOT_FOUND across tenants, and RLS holds below the API."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import pytest

from avatarchat.auth.v1 import auth_pb2
from avatarchat.policy.v1 import policy_pb2
from services.runtime.db import Database
from services.runtime.tokens import ServiceTokens
from tests.errors_assert import expect_error
from tests.services.conftest import Account, Stack

NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def two_tenants(stack: Stack) -> tuple[Account, Account, str, str]:
    """Tenant A with an API key, tenant B; returns A, B, A's key name and A's key secret."""
    a, b = await stack.new_tenant("a"), await stack.new_tenant("b")
    key = await stack.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            parent=a.tenant, api_key=auth_pb2.ApiKey(display_name="a's key", scopes=["chatbots.read"])
        ),
        metadata=a.metadata,
    )
    return a, b, key.api_key.name, key.secret


#: Every tenant-owned RPC, aimed by tenant B's owner at tenant A's resources.
CALLS: dict[str, Callable[[Stack, Account, Account, str], Awaitable[Any]]] = {
    "CreateUser": lambda s, a, b, key: s.auth.CreateUser(
        auth_pb2.CreateUserRequest(
            parent=a.tenant, user=auth_pb2.User(email="intruder@example.com", role=policy_pb2.ROLE_OWNER)
        ),
        metadata=b.metadata,
    ),
    "GetUser": lambda s, a, b, key: s.auth.GetUser(auth_pb2.GetUserRequest(name=a.owner), metadata=b.metadata),
    "ListUsers": lambda s, a, b, key: s.auth.ListUsers(auth_pb2.ListUsersRequest(parent=a.tenant), metadata=b.metadata),
    "SetUserRole": lambda s, a, b, key: s.auth.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=a.owner, role=policy_pb2.ROLE_MEMBER), metadata=b.metadata
    ),
    "CreateApiKey": lambda s, a, b, key: s.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            parent=a.tenant, api_key=auth_pb2.ApiKey(display_name="x", scopes=["chatbots.read"])
        ),
        metadata=b.metadata,
    ),
    "ListApiKeys": lambda s, a, b, key: s.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(parent=a.tenant), metadata=b.metadata
    ),
    "DeleteApiKey": lambda s, a, b, key: s.auth.DeleteApiKey(
        auth_pb2.DeleteApiKeyRequest(name=key), metadata=b.metadata
    ),
    # Internal: a service acting for tenant B (its token carries B) cannot sign for A's chatbots.
    "IssueVisitorToken": lambda s, a, b, key: s.auth.IssueVisitorToken(
        auth_pb2.IssueVisitorTokenRequest(chatbot=f"{a.tenant}/chatbots/{uuid.uuid4()}", visitor_id="v1"),
        metadata=ServiceTokens(s.settings.resolved_internal_secret(), "edge").metadata(b.tenant_id),
    ),
}


def test_every_tenant_owned_rpc_is_covered() -> None:
    methods = {m.name for m in auth_pb2.DESCRIPTOR.services_by_name["AuthService"].methods}
    platform_wide = {"Login", "Logout", "Refresh", "Validate", "GetJwks"}
    assert set(CALLS) == methods - platform_wide


@pytest.mark.parametrize("rpc", sorted(CALLS))
async def test_other_tenants_resources_are_not_found(stack: Stack, rpc: str) -> None:
    a, b, key_name, key_secret = await two_tenants(stack)
    await expect_error(CALLS[rpc](stack, a, b, key_name), NOT_FOUND, "RESOURCE_NOT_FOUND")
    # Nothing of A changed.
    owner = await stack.auth.GetUser(auth_pb2.GetUserRequest(name=a.owner), metadata=a.metadata)
    assert owner.user.role == policy_pb2.ROLE_OWNER
    users = await stack.auth.ListUsers(auth_pb2.ListUsersRequest(parent=a.tenant), metadata=a.metadata)
    assert len(users.users) == 1
    keys = await stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=a.tenant), metadata=a.metadata)
    assert [k.name for k in keys.api_keys] == [key_name]
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=key_secret))


async def test_own_parent_with_another_tenants_ids_is_not_found(stack: Stack) -> None:
    a, b, key_name, key_secret = await two_tenants(stack)
    user_id, key_id = a.owner.rsplit("/", 1)[1], key_name.rsplit("/", 1)[1]
    await expect_error(
        stack.auth.GetUser(auth_pb2.GetUserRequest(name=f"{b.tenant}/users/{user_id}"), metadata=b.metadata), NOT_FOUND
    )
    await expect_error(
        stack.auth.SetUserRole(
            auth_pb2.SetUserRoleRequest(name=f"{b.tenant}/users/{user_id}", role=policy_pb2.ROLE_MEMBER),
            metadata=b.metadata,
        ),
        NOT_FOUND,
    )
    await expect_error(
        stack.auth.DeleteApiKey(auth_pb2.DeleteApiKeyRequest(name=f"{b.tenant}/apiKeys/{key_id}"), metadata=b.metadata),
        NOT_FOUND,
    )
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=key_secret))


async def test_row_level_security_hides_other_tenants_even_without_a_where(stack: Stack, auth_db: Database) -> None:
    a, b, _, _ = await two_tenants(stack)
    async with auth_db.tenant_tx(b.tenant_id) as conn:
        users = await conn.fetch("SELECT tenant_id FROM auth.users")
        keys = await conn.fetch("SELECT tenant_id FROM auth.api_keys")
        updated = await conn.execute("UPDATE auth.users SET display_name = 'pwned' WHERE tenant_id = $1", a.tenant_id)
    assert {r["tenant_id"] for r in users} == {b.tenant_id}
    assert keys == []
    assert updated == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with auth_db.tenant_tx(b.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO auth.users (id, tenant_id, email, role) VALUES ($1, $2, 'x@example.com', 'owner')",
                uuid.uuid4(),
                a.tenant_id,
            )
    # Without a tenant the service role sees no tenant rows at all (only the lookup function crosses tenants).
    async with auth_db.platform_tx() as conn:
        assert await conn.fetchval("SELECT count(*) FROM auth.users") == 0
