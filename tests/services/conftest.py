"""The running platform for service tests: every runnable service on free ports, and account helpers."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.policy.v1 import policy_pb2
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import RUNNABLE_SERVICES
from services.runtime.server import ServiceHost
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import ServiceTokens
from tests.conftest import channel_to, port_of, unique_slug

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    """A tenant with its signed-in owner."""

    tenant: str
    tenant_id: uuid.UUID
    slug: str
    owner: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata that authenticates the owner."""
        return (("authorization", f"Bearer {self.access_token}"),)


@dataclass
class Stack:
    """Clients of the running services, plus an operator credential (a service token) for set-up."""

    settings: RuntimeSettings
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    tenant: tenant_pb2_grpc.TenantServiceAsyncStub
    operator: ServiceTokens
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    _admin: Account | None = None

    def channel(self, service: str) -> grpc.aio.Channel:
        """A plain channel to a running service, for building its stub."""
        if service not in self.channels:
            self.channels[service] = channel_to(self.settings, service)
        return self.channels[service]

    async def login(self, slug: str, email: str, password: str = PASSWORD) -> auth_pb2.LoginResponse:
        """Signs a user in."""
        return await self.auth.Login(auth_pb2.LoginRequest(tenant_slug=slug, email=email, password=password))

    async def new_tenant(self, prefix: str = "t", plan: str = "") -> Account:
        """Signs up a fresh tenant and logs its owner in."""
        slug = unique_slug(prefix)
        email = f"owner@{slug}.example"
        created = await self.tenant.CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug=slug, display_name=f"Company {slug}"),
                owner_email=email,
                owner_password=PASSWORD,
                owner_display_name="Owner",
                plan=plan,
            ),
            metadata=self.operator.metadata() if plan else None,
        )
        tokens = (await self.login(slug, email)).tokens
        return Account(
            tenant=created.tenant.name,
            tenant_id=uuid.UUID(created.tenant.name.removeprefix("tenants/")),
            slug=slug,
            owner=created.owner,
            email=email,
            password=PASSWORD,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    async def usage(self, account: Account, kind: tenant_pb2.LimitKind.ValueType) -> tenant_pb2.LimitUsage:
        """The account's current usage of one plan limit, as its owner reads it."""
        limits = await self.tenant.GetLimits(
            tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata
        )
        return next(u for u in limits.limits if u.kind == kind)

    async def use_up(self, account: Account, kind: tenant_pb2.LimitKind.ValueType, leave: int = 0) -> int:
        """Reserves all but `leave` of a plan limit, as a service would; returns the limit."""
        usage = await self.usage(account, kind)
        await self.tenant.ReserveQuota(
            tenant_pb2.ReserveQuotaRequest(name=account.tenant, kind=kind, amount=usage.limit - usage.used - leave),
            metadata=self.operator.metadata(account.tenant_id),
        )
        return usage.limit

    async def platform_admin(self) -> Account:
        """An account whose owner is a platform admin (granted with the operator credential)."""
        if self._admin is None:
            account = await self.new_tenant("platform")
            await self.auth.SetUserRole(
                auth_pb2.SetUserRoleRequest(name=account.owner, role=policy_pb2.ROLE_PLATFORM_ADMIN),
                metadata=self.operator.metadata(),
            )
            tokens = (await self.login(account.slug, account.email)).tokens
            account.access_token, account.refresh_token = tokens.access_token, tokens.refresh_token
            self._admin = account
        return self._admin


async def start_services(settings: RuntimeSettings, names: tuple[str, ...]) -> list[ServiceHost]:
    """Builds and starts each service in-process through its own composition root (`server.build`)."""
    values = settings.model_dump()
    hosts: list[ServiceHost] = []
    for name in names:
        module = importlib.import_module(f"services.{name}.server")
        host = await module.build(module.SETTINGS(**values), port=port_of(settings, name))
        await host.start()
        hosts.append(host)
    return hosts


@pytest.fixture(scope="session")
async def stack(settings: RuntimeSettings) -> AsyncIterator[Stack]:
    """Every runnable service talking to the others, the real database and Redis."""
    hosts = await start_services(settings, RUNNABLE_SERVICES)
    channels = {name: channel_to(settings, name) for name in ("auth", "tenant")}
    running = Stack(
        settings=settings,
        auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
        tenant=tenant_pb2_grpc.TenantServiceStub(channels["tenant"]),
        operator=ServiceTokens(settings.resolved_internal_secret(), "test-operator"),
        channels=channels,
    )
    yield running
    for channel in running.channels.values():
        await channel.close()
    for host in reversed(hosts):
        await host.stop(0.5)
