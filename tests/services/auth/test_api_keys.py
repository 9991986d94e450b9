"""API keys: secret shown once, stored hashed, scoped, validated, revoked, last use recorded."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2

from avatarchat.auth.v1 import auth_pb2
from avatarchat.tenant.v1 import tenant_pb2
from services.auth.scopes import API_KEY_SCOPES
from services.runtime.db import Database
from services.runtime.tokens import API_KEY_PREFIX
from tests.errors_assert import expect_error
from tests.services.conftest import Account, Stack

INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def create_key(
    stack: Stack, account: Account, scopes: list[str], name: str = "CI deploys"
) -> auth_pb2.CreateApiKeyResponse:
    """Creates a key as the account's owner."""
    return await stack.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(parent=account.tenant, api_key=auth_pb2.ApiKey(display_name=name, scopes=scopes)),
        metadata=account.metadata,
    )


async def test_secret_is_shown_once_and_never_listed(stack: Stack, auth_db: Database) -> None:
    account = await stack.new_tenant()
    created = await create_key(stack, account, ["chatbots.read", "chatbots.write", "chatbots.read"])
    secret, key = created.secret, created.api_key
    assert secret.startswith(API_KEY_PREFIX)
    assert key.name.startswith(account.tenant + "/apiKeys/")
    assert key.prefix == secret[: len(key.prefix)]
    assert len(key.prefix) < len(secret) // 4
    assert list(key.scopes) == ["chatbots.read", "chatbots.write"]
    assert key.display_name == "CI deploys"
    assert key.HasField("create_time")
    assert not key.HasField("expire_time")
    listed = await stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=account.tenant), metadata=account.metadata)
    assert [k.name for k in listed.api_keys] == [key.name]
    assert secret not in str(listed)
    # Only a hash is stored.
    async with auth_db.tenant_tx(account.tenant_id) as conn:
        stored = await conn.fetchrow("SELECT * FROM auth.api_keys WHERE id::text = $1", key.name.rsplit("/", 1)[1])
    assert stored is not None
    assert bytes(stored["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in {str(v) for v in stored.values()}


async def test_key_authenticates_via_validate_and_at_other_services(stack: Stack) -> None:
    account = await stack.new_tenant()
    created = await create_key(stack, account, ["tenant.read", "knowledge.read"])
    principal = (await stack.auth.Validate(auth_pb2.ValidateRequest(credential=created.secret))).principal
    assert principal.kind == auth_pb2.PRINCIPAL_KIND_API_KEY
    assert principal.tenant == account.tenant
    assert principal.subject == created.api_key.name.rsplit("/", 1)[1]
    assert list(principal.scopes) == ["knowledge.read", "tenant.read"]
    assert not principal.HasField("expire_time")
    bearer = (("authorization", f"Bearer {created.secret}"),)
    # The tenant service checks the key through auth (runtime.remote_auth) and its scope through the policy.
    tenant = await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant), metadata=bearer)
    assert tenant.tenant.name == account.tenant
    await expect_error(
        stack.tenant.UpdateTenant(
            tenant_pb2.UpdateTenantRequest(tenant=tenant_pb2.Tenant(name=account.tenant, display_name="x")),
            metadata=bearer,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    # No auth RPC takes API keys: they cannot mint more keys or manage users.
    await expect_error(
        stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=account.tenant), metadata=bearer),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_last_used_time_is_recorded(stack: Stack) -> None:
    account = await stack.new_tenant()
    created = await create_key(stack, account, ["analytics.read"])
    assert not created.api_key.HasField("last_used_time")
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=created.secret))
    listed = await stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=account.tenant), metadata=account.metadata)
    used = listed.api_keys[0].last_used_time.ToDatetime(tzinfo=UTC)
    assert abs((datetime.now(UTC) - used).total_seconds()) < 60
    # A second use within the interval does not write again.
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=created.secret))
    again = await stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=account.tenant), metadata=account.metadata)
    assert again.api_keys[0].last_used_time == listed.api_keys[0].last_used_time


async def test_delete_revokes_at_once(stack: Stack) -> None:
    account = await stack.new_tenant()
    kept = await create_key(stack, account, ["billing.read"], "kept")
    gone = await create_key(stack, account, ["billing.read"], "gone")
    await stack.auth.DeleteApiKey(auth_pb2.DeleteApiKeyRequest(name=gone.api_key.name), metadata=account.metadata)
    await expect_error(stack.auth.Validate(auth_pb2.ValidateRequest(credential=gone.secret)), UNAUTHENTICATED)
    await expect_error(
        stack.auth.DeleteApiKey(auth_pb2.DeleteApiKeyRequest(name=gone.api_key.name), metadata=account.metadata),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=kept.secret))
    listed = await stack.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(parent=account.tenant), metadata=account.metadata)
    assert [k.display_name for k in listed.api_keys] == ["kept"]


async def test_a_modified_secret_does_not_validate(stack: Stack) -> None:
    account = await stack.new_tenant()
    secret = (await create_key(stack, account, ["chatbots.read"])).secret
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    await expect_error(stack.auth.Validate(auth_pb2.ValidateRequest(credential=flipped)), UNAUTHENTICATED)


async def test_scopes_must_be_known(stack: Stack) -> None:
    account = await stack.new_tenant()
    await expect_error(create_key(stack, account, []), INVALID, "INVALID_FIELD", {"api_key.scopes"})
    exc = await expect_error(
        create_key(stack, account, ["chatbots.read", "root"]), INVALID, "INVALID_FIELD", {"api_key.scopes"}
    )
    assert "root" in (exc.details() or "")
    every = await create_key(stack, account, sorted(API_KEY_SCOPES))
    assert set(every.api_key.scopes) == API_KEY_SCOPES


async def test_expiry_in_the_future_is_kept_and_past_is_refused(stack: Stack) -> None:
    account = await stack.new_tenant()
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    await expect_error(
        stack.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(
                parent=account.tenant,
                api_key=auth_pb2.ApiKey(display_name="old", scopes=["chatbots.read"], expire_time=past),
            ),
            metadata=account.metadata,
        ),
        INVALID,
        "INVALID_FIELD",
        {"api_key.expire_time"},
    )
    future = timestamp_pb2.Timestamp()
    future.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    created = await stack.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            parent=account.tenant,
            api_key=auth_pb2.ApiKey(display_name="soon", scopes=["chatbots.read"], expire_time=future),
        ),
        metadata=account.metadata,
    )
    assert created.api_key.expire_time.seconds == future.seconds
    principal = (await stack.auth.Validate(auth_pb2.ValidateRequest(credential=created.secret))).principal
    assert principal.expire_time.seconds == future.seconds


async def test_expired_key_is_unauthenticated(stack: Stack, auth_db: Database) -> None:
    account = await stack.new_tenant()
    created = await create_key(stack, account, ["chatbots.read"])
    key_id = created.api_key.name.rsplit("/", 1)[1]
    async with auth_db.tenant_tx(account.tenant_id) as conn:
        await conn.execute(
            "UPDATE auth.api_keys SET expire_time = now() - interval '1 second' WHERE id::text = $1", key_id
        )
    exc = await expect_error(stack.auth.Validate(auth_pb2.ValidateRequest(credential=created.secret)), UNAUTHENTICATED)
    assert "expired" in (exc.details() or "")


async def test_list_pages_through_every_key(stack: Stack) -> None:
    account = await stack.new_tenant()
    names = [(await create_key(stack, account, ["chatbots.read"], f"key {i}")).api_key.name for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stack.auth.ListApiKeys(
            auth_pb2.ListApiKeysRequest(parent=account.tenant, page_size=2, page_token=token),
            metadata=account.metadata,
        )
        assert len(page.api_keys) <= 2
        seen += [k.name for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert seen == names
