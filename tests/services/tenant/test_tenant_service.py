"""TenantService against real auth and tenant servers and the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from avatarchat.auth.v1 import auth_pb2
from avatarchat.tenant.v1 import tenant_pb2
from tests.conftest import unique_slug
from tests.errors_assert import expect_error
from tests.services.conftest import PASSWORD, Stack

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def test_sign_up_provisions_tenant_with_owner_who_can_log_in(stack: Stack) -> None:
    account = await stack.new_tenant()
    tenant = (
        await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant), metadata=account.metadata)
    ).tenant
    assert tenant.state == tenant_pb2.TENANT_STATE_ACTIVE
    assert tenant.plan == "plans/free"
    assert tenant.shard == "default"
    assert tenant.slug == account.slug
    assert account.owner.startswith(account.tenant + "/users/")
    user = (await stack.auth.GetUser(auth_pb2.GetUserRequest(name=account.owner), metadata=account.metadata)).user
    assert user.email == account.email
    looked_up = await stack.tenant.LookupTenant(tenant_pb2.LookupTenantRequest(slug=account.slug))
    assert looked_up.name == account.tenant


async def test_duplicate_slug_is_already_exists_and_first_tenant_is_intact(stack: Stack) -> None:
    account = await stack.new_tenant()
    await expect_error(
        stack.tenant.CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug=account.slug, display_name="Impostor"),
                owner_email="other@example.com",
                owner_password=PASSWORD,
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "RESOURCE_ALREADY_EXISTS",
    )
    tenant = (
        await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant), metadata=account.metadata)
    ).tenant
    assert tenant.display_name == f"Company {account.slug}"


async def test_create_tenant_bad_input_names_every_field(stack: Stack) -> None:
    await expect_error(
        stack.tenant.CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug="-Bad Slug-", display_name="x" * 500),
                owner_email="not-an-email",
                owner_password="short",
                plan="gold",
            )
        ),
        INVALID,
        "INVALID_FIELD",
        {"tenant.slug", "tenant.display_name", "owner_email", "owner_password", "plan"},
    )
    await expect_error(
        stack.tenant.CreateTenant(tenant_pb2.CreateTenantRequest()),
        INVALID,
        "INVALID_FIELD",
        {"tenant.slug", "tenant.display_name", "owner_email", "owner_password"},
    )


async def test_anonymous_sign_up_cannot_choose_a_paid_plan(stack: Stack) -> None:
    await expect_error(
        stack.tenant.CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug=unique_slug(), display_name="Paid"),
                owner_email="o@example.com",
                owner_password=PASSWORD,
                plan="plans/pro",
            )
        ),
        INVALID,
        fields={"plan"},
    )


async def test_update_tenant_with_field_mask(stack: Stack) -> None:
    account = await stack.new_tenant()
    md = account.metadata
    updated = (
        await stack.tenant.UpdateTenant(
            tenant_pb2.UpdateTenantRequest(
                tenant=tenant_pb2.Tenant(
                    name=account.tenant,
                    display_name="Ignored because not in mask",
                    config=tenant_pb2.TenantConfig(time_zone="Europe/Berlin", default_language="de"),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["config.time_zone"]),
            ),
            metadata=md,
        )
    ).tenant
    assert updated.config.time_zone == "Europe/Berlin"
    assert updated.config.default_language == ""
    assert updated.display_name == f"Company {account.slug}"
    await expect_error(
        stack.tenant.UpdateTenant(
            tenant_pb2.UpdateTenantRequest(
                tenant=tenant_pb2.Tenant(name=account.tenant, config=tenant_pb2.TenantConfig(time_zone="Mars/Olympus")),
                update_mask=field_mask_pb2.FieldMask(paths=["config.time_zone"]),
            ),
            metadata=md,
        ),
        INVALID,
        fields={"tenant.config.time_zone"},
    )
    await expect_error(
        stack.tenant.UpdateTenant(
            tenant_pb2.UpdateTenantRequest(
                tenant=tenant_pb2.Tenant(name=account.tenant), update_mask=field_mask_pb2.FieldMask(paths=["slug"])
            ),
            metadata=md,
        ),
        INVALID,
        fields={"update_mask"},
    )
    again = (await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant), metadata=md)).tenant
    assert again.config.time_zone == "Europe/Berlin"


async def test_limits_show_usage_and_quota_is_enforced_atomically(stack: Stack) -> None:
    account = await stack.new_tenant()
    service_md = stack.operator.metadata(account.tenant_id)
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    by_kind = {u.kind: u for u in limits.limits}
    assert limits.plan == "plans/free"
    assert by_kind[tenant_pb2.LIMIT_KIND_SEATS].used == 1  # the owner
    assert by_kind[tenant_pb2.LIMIT_KIND_CHATBOTS].used == 0
    chatbot_limit = by_kind[tenant_pb2.LIMIT_KIND_CHATBOTS].limit

    async def reserve() -> bool:
        try:
            await stack.tenant.ReserveQuota(
                tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_CHATBOTS, amount=1),
                metadata=service_md,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            return False
        return True

    results = await asyncio.gather(*(reserve() for _ in range(chatbot_limit + 5)))
    assert sum(results) == chatbot_limit
    await expect_error(
        stack.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_CHATBOTS, amount=1),
            metadata=service_md,
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )
    released = await stack.tenant.ReleaseQuota(
        tenant_pb2.ReleaseQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_CHATBOTS, amount=1),
        metadata=service_md,
    )
    assert released.usage.used == chatbot_limit - 1


async def test_a_reservation_larger_than_the_limit_takes_nothing(stack: Stack) -> None:
    account = await stack.new_tenant()
    service_md = stack.operator.metadata(account.tenant_id)
    kind = tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH

    limit = (await stack.usage(account, kind)).limit
    error = await expect_error(
        stack.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=kind, amount=limit + 1), metadata=service_md
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )
    taken = await stack.tenant.ReserveQuota(
        tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=kind, amount=limit), metadata=service_md
    )

    assert "messages" in (error.details() or "")
    assert taken.usage.used == limit
    assert taken.usage.limit == limit
    assert (await stack.usage(account, kind)).used == limit


async def test_quota_rpcs_are_internal_only(stack: Stack) -> None:
    account = await stack.new_tenant()
    await expect_error(
        stack.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_CHATBOTS, amount=1),
            metadata=account.metadata,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(
        stack.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_UNSPECIFIED, amount=0),
            metadata=stack.operator.metadata(account.tenant_id),
        ),
        INVALID,
        fields={"kind", "amount"},
    )


async def test_subscription_change_and_downgrade_guard(stack: Stack) -> None:
    account = await stack.new_tenant()
    moved = await stack.tenant.UpdateSubscription(
        tenant_pb2.UpdateSubscriptionRequest(name=account.tenant, plan="plans/starter"), metadata=account.metadata
    )
    assert moved.tenant.plan == "plans/starter"
    service_md = stack.operator.metadata(account.tenant_id)
    await stack.tenant.ReserveQuota(
        tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=tenant_pb2.LIMIT_KIND_CHATBOTS, amount=4),
        metadata=service_md,
    )
    await expect_error(
        stack.tenant.UpdateSubscription(
            tenant_pb2.UpdateSubscriptionRequest(name=account.tenant, plan="plans/free"), metadata=account.metadata
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await expect_error(
        stack.tenant.UpdateSubscription(
            tenant_pb2.UpdateSubscriptionRequest(name=account.tenant, plan="plans/none"), metadata=account.metadata
        ),
        INVALID,
        fields={"plan"},
    )


async def test_list_tenants_needs_platform_admin_and_pages(stack: Stack) -> None:
    account = await stack.new_tenant()
    await expect_error(
        stack.tenant.ListTenants(tenant_pb2.ListTenantsRequest(), metadata=account.metadata),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    admin = await stack.platform_admin()
    for _ in range(3):
        await stack.new_tenant()
    first = await stack.tenant.ListTenants(tenant_pb2.ListTenantsRequest(page_size=2), metadata=admin.metadata)
    assert len(first.tenants) == 2
    assert first.next_page_token
    second = await stack.tenant.ListTenants(
        tenant_pb2.ListTenantsRequest(page_size=2, page_token=first.next_page_token), metadata=admin.metadata
    )
    assert {t.name for t in first.tenants}.isdisjoint({t.name for t in second.tenants})
    await expect_error(
        stack.tenant.ListTenants(tenant_pb2.ListTenantsRequest(page_token="forged"), metadata=admin.metadata),
        INVALID,
        fields={"page_token"},
    )
    await expect_error(
        stack.tenant.ListTenants(tenant_pb2.ListTenantsRequest(page_size=-1), metadata=admin.metadata),
        INVALID,
        fields={"page_size"},
    )
    # A platform admin may read any tenant.
    other = await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant), metadata=admin.metadata)
    assert other.tenant.slug == account.slug


async def test_plans_are_public(stack: Stack) -> None:
    plans = (await stack.tenant.ListPlans(tenant_pb2.ListPlansRequest())).plans
    assert [p.name for p in plans][:2] == ["plans/free", "plans/starter"]
    assert plans[0].limits.chatbots > 0


async def test_unauthenticated_and_malformed_names(stack: Stack) -> None:
    account = await stack.new_tenant()
    await expect_error(
        stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=account.tenant)), grpc.StatusCode.UNAUTHENTICATED
    )
    await expect_error(
        stack.tenant.GetTenant(
            tenant_pb2.GetTenantRequest(name=account.tenant), metadata=(("authorization", "Bearer garbage"),)
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    for bad in ("", "tenants/", "tenants/not-a-uuid", "users/123", "tenants/" + "a" * 600):
        await expect_error(
            stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=bad), metadata=account.metadata),
            INVALID,
            fields={"name"},
        )
    missing = f"tenants/{uuid.uuid4()}"
    await expect_error(
        stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=missing), metadata=account.metadata), NOT_FOUND
    )
    await expect_error(stack.tenant.LookupTenant(tenant_pb2.LookupTenantRequest(slug=unique_slug())), NOT_FOUND)


async def test_every_tenant_owned_rpc_hides_other_tenants(stack: Stack) -> None:
    a = await stack.new_tenant("a")
    b = await stack.new_tenant("b")
    md = b.metadata  # b's owner reaching for a's tenant
    calls: list[Awaitable[Any]] = [
        stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=a.tenant), metadata=md),
        stack.tenant.UpdateTenant(
            tenant_pb2.UpdateTenantRequest(tenant=tenant_pb2.Tenant(name=a.tenant, display_name="pwned")), metadata=md
        ),
        stack.tenant.UpdateSubscription(
            tenant_pb2.UpdateSubscriptionRequest(name=a.tenant, plan="plans/starter"), metadata=md
        ),
        stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=a.tenant), metadata=md),
    ]
    for call in calls:
        await expect_error(call, NOT_FOUND, "RESOURCE_NOT_FOUND")
    # A service token scoped to tenant b cannot touch tenant a's internal RPCs either.
    b_service = stack.operator.metadata(b.tenant_id)
    internal_calls: list[Awaitable[Any]] = [
        stack.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=a.tenant, kind=tenant_pb2.LIMIT_KIND_SEATS, amount=1),
            metadata=b_service,
        ),
        stack.tenant.ReleaseQuota(
            tenant_pb2.ReleaseQuotaRequest(name=a.tenant, kind=tenant_pb2.LIMIT_KIND_SEATS, amount=1),
            metadata=b_service,
        ),
        stack.tenant.GetShard(tenant_pb2.GetShardRequest(name=a.tenant), metadata=b_service),
    ]
    for call in internal_calls:
        await expect_error(call, NOT_FOUND)
    unchanged = (await stack.tenant.GetTenant(tenant_pb2.GetTenantRequest(name=a.tenant), metadata=a.metadata)).tenant
    assert unchanged.display_name != "pwned"
    assert unchanged.plan == "plans/free"
