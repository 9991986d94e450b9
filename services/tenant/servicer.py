"""TenantService: thin RPC methods over the tenant store and provisioner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import errors
from services.runtime.context import current_principal, require_tenant_access
from services.runtime.names import parse_tenant, tenant_name
from services.runtime.pagination import PageTokens, page_size
from services.runtime.validation import Checks
from services.tenant import validate
from services.tenant.convert import (
    CONFIG_FIELDS,
    LIMIT_KINDS,
    plan_message,
    tenant_message,
    usage_message,
)
from services.tenant.provisioning import Provisioner
from services.tenant.settings import TenantSettings
from services.tenant.store import NewTenant, TenantRow, TenantStore

Context = grpc.aio.ServicerContext[Any, Any]
MAX_QUOTA_AMOUNT = 1 << 50


class TenantServicer(tenant_pb2_grpc.TenantServiceServicer):
    """Implements avatarchat.tenant.v1.TenantService."""

    def __init__(
        self,
        settings: TenantSettings,
        store: TenantStore,
        provisioner: Provisioner,
        page_tokens: PageTokens,
        shards: set[str],
    ) -> None:
        self._settings = settings
        self._store = store
        self._provisioner = provisioner
        self._pages = page_tokens
        self._shards = shards

    async def _tenant(self, name: str, field: str = "name") -> TenantRow:
        tenant_id = parse_tenant(name, field)
        require_tenant_access(tenant_id, name)
        row = await self._store.get(tenant_id)
        if row is None:
            raise errors.NotFound(name)
        return row

    async def CreateTenant(
        self, request: tenant_pb2.CreateTenantRequest, context: Context
    ) -> tenant_pb2.CreateTenantResponse:
        """Signs a company up: tenant row, shard, owner user, then active."""
        principal = current_principal()
        if not self._settings.signup_open and not principal.is_super:
            raise errors.PermissionDenied("self-serve sign-up is closed on this platform")
        checks = Checks()
        slug = checks.slug("tenant.slug", request.tenant.slug)
        display_name = checks.text("tenant.display_name", request.tenant.display_name)
        owner_email = checks.email("owner_email", request.owner_email)
        password = checks.password("owner_password", request.owner_password)
        owner_name = checks.text("owner_display_name", request.owner_display_name, required=False)
        plan_id = validate.plan_id(checks, "plan", request.plan, self._settings.default_plan)
        config = validate.config(checks, "tenant.config", request.tenant.config, set(CONFIG_FIELDS))
        checks.done()
        plan = await self._store.plan(plan_id)
        if plan is None:
            raise errors.InvalidArgument.field("plan", f"unknown plan plans/{plan_id}")
        if plan.monthly_price_micros > 0 and not principal.is_super:
            raise errors.InvalidArgument.field("plan", "paid plans start on the free plan and upgrade through billing")
        row = await self._store.create(NewTenant(slug, display_name, plan_id, owner_email, config), self._shards)
        row = await self._provisioner.provision(row, password, owner_name)
        return tenant_pb2.CreateTenantResponse(tenant=tenant_message(row), owner=row.owner_user)

    async def GetTenant(self, request: tenant_pb2.GetTenantRequest, context: Context) -> tenant_pb2.GetTenantResponse:
        """Returns one tenant."""
        return tenant_pb2.GetTenantResponse(tenant=tenant_message(await self._tenant(request.name)))

    async def LookupTenant(
        self, request: tenant_pb2.LookupTenantRequest, context: Context
    ) -> tenant_pb2.LookupTenantResponse:
        """Resolves a slug; provisioning tenants are not found yet."""
        checks = Checks()
        slug = checks.slug("slug", request.slug)
        checks.done()
        row = await self._store.by_slug(slug)
        if row is None or row.state == "provisioning":
            raise errors.NotFound(f"tenant {slug}")
        return tenant_pb2.LookupTenantResponse(name=tenant_name(row.id), display_name=row.display_name)

    async def UpdateTenant(
        self, request: tenant_pb2.UpdateTenantRequest, context: Context
    ) -> tenant_pb2.UpdateTenantResponse:
        """Changes display name and configuration under a field mask."""
        row = await self._tenant(request.tenant.name, "tenant.name")
        paths = validate.update_paths(request.update_mask)
        checks = Checks()
        changes: dict[str, Any] = {}
        if "display_name" in paths:
            changes["display_name"] = checks.text("tenant.display_name", request.tenant.display_name)
        config_paths = set(CONFIG_FIELDS) if "config" in paths else {p[7:] for p in paths if p.startswith("config.")}
        if config_paths:
            changes["config"] = {
                **row.config,
                **validate.config(checks, "tenant.config", request.tenant.config, config_paths),
            }
        checks.done()
        updated = await self._store.update(row.id, changes) if changes else row
        if updated is None:
            raise errors.NotFound(request.tenant.name)
        return tenant_pb2.UpdateTenantResponse(tenant=tenant_message(updated))

    async def ProvisionTenant(
        self, request: tenant_pb2.ProvisionTenantRequest, context: Context
    ) -> tenant_pb2.ProvisionTenantResponse:
        """Re-runs provisioning (owner without password is invited)."""
        row = await self._provisioner.provision(await self._tenant(request.name))
        return tenant_pb2.ProvisionTenantResponse(tenant=tenant_message(row))

    async def UpdateSubscription(
        self, request: tenant_pb2.UpdateSubscriptionRequest, context: Context
    ) -> tenant_pb2.UpdateSubscriptionResponse:
        """Moves to another plan, refusing a downgrade below what is already in use."""
        row = await self._tenant(request.name)
        checks = Checks()
        if not request.plan:
            checks.fail("plan", "required")
        plan_id = validate.plan_id(checks, "plan", request.plan, "")
        checks.done()
        plan = await self._store.plan(plan_id)
        if plan is None:
            raise errors.InvalidArgument.field("plan", f"unknown plan {request.plan}")
        usage = await self._store.usage(row.id, datetime.now(UTC))
        for item in usage[1] if usage else []:
            limit = plan.limits[item.kind]
            if item.kind != "messages_per_month" and 0 <= limit < item.used:
                raise errors.FailedPrecondition(
                    f"plans/{plan_id} allows {limit} {item.kind} but {item.used} are in use",
                    metadata={"limit": item.kind, "used": str(item.used), "max": str(limit)},
                )
        updated = await self._store.update(row.id, {"plan_id": plan_id})
        if updated is None:
            raise errors.NotFound(request.name)
        return tenant_pb2.UpdateSubscriptionResponse(tenant=tenant_message(updated))

    async def GetLimits(self, request: tenant_pb2.GetLimitsRequest, context: Context) -> tenant_pb2.GetLimitsResponse:
        """Every limit of the plan with current usage."""
        row = await self._tenant(request.name)
        usage = await self._store.usage(row.id, datetime.now(UTC))
        if usage is None:
            raise errors.NotFound(request.name)
        plan_id, items = usage
        return tenant_pb2.GetLimitsResponse(plan=f"plans/{plan_id}", limits=[usage_message(u) for u in items])

    async def ListTenants(
        self, request: tenant_pb2.ListTenantsRequest, context: Context
    ) -> tenant_pb2.ListTenantsResponse:
        """Every tenant, newest first (platform admins)."""
        size = page_size(request.page_size)
        cursor = self._pages.decode(request.page_token, "tenants")
        after = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.page(size + 1, after)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = self._pages.encode([rows[-1].create_time.isoformat(), str(rows[-1].id)], "tenants")
        return tenant_pb2.ListTenantsResponse(tenants=[tenant_message(r) for r in rows], next_page_token=token)

    async def ListPlans(self, request: tenant_pb2.ListPlansRequest, context: Context) -> tenant_pb2.ListPlansResponse:
        """Every plan on offer."""
        return tenant_pb2.ListPlansResponse(plans=[plan_message(p) for p in await self._store.plans()])

    def _quota_args(
        self, request: tenant_pb2.ReserveQuotaRequest | tenant_pb2.ReleaseQuotaRequest
    ) -> tuple[uuid.UUID, str]:
        tenant_id = parse_tenant(request.name)
        checks = Checks()
        kind = LIMIT_KINDS.get(request.kind)
        if kind is None:
            checks.fail("kind", "required: a LimitKind other than LIMIT_KIND_UNSPECIFIED")
        if not 1 <= request.amount <= MAX_QUOTA_AMOUNT:
            checks.fail("amount", f"between 1 and {MAX_QUOTA_AMOUNT}")
        checks.done()
        require_tenant_access(tenant_id, request.name)
        assert kind is not None
        return tenant_id, kind

    async def ReserveQuota(
        self, request: tenant_pb2.ReserveQuotaRequest, context: Context
    ) -> tenant_pb2.ReserveQuotaResponse:
        """Takes quota or answers LIMIT_EXCEEDED."""
        tenant_id, kind = self._quota_args(request)
        usage = await self._store.reserve(tenant_id, kind, request.amount, datetime.now(UTC))
        if usage is None:
            raise errors.NotFound(request.name)
        return tenant_pb2.ReserveQuotaResponse(usage=usage_message(usage))

    async def ReleaseQuota(
        self, request: tenant_pb2.ReleaseQuotaRequest, context: Context
    ) -> tenant_pb2.ReleaseQuotaResponse:
        """Gives quota back."""
        tenant_id, kind = self._quota_args(request)
        usage = await self._store.release(tenant_id, kind, request.amount, datetime.now(UTC))
        if usage is None:
            raise errors.NotFound(request.name)
        return tenant_pb2.ReleaseQuotaResponse(usage=usage_message(usage))

    async def GetShard(self, request: tenant_pb2.GetShardRequest, context: Context) -> tenant_pb2.GetShardResponse:
        """Where a tenant's rows live."""
        return tenant_pb2.GetShardResponse(shard=(await self._tenant(request.name)).shard_id)
