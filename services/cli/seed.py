"""Seeds the demo tenant (and, as later services arrive, its demo bot) through the public RPCs."""

from __future__ import annotations

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG
from services.runtime.settings import RuntimeSettings


async def seed_demo(settings: RuntimeSettings) -> str:
    """Creates the demo tenant unless it exists; returns its resource name."""
    async with grpc.aio.insecure_channel(settings.address_of("tenant")) as channel:
        stub = tenant_pb2_grpc.TenantServiceStub(channel)
        try:
            found = await stub.LookupTenant(tenant_pb2.LookupTenantRequest(slug=DEMO_SLUG), timeout=10)
            return found.name
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        created = await stub.CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug=DEMO_SLUG, display_name="Demo Company"),
                owner_email=DEMO_EMAIL,
                owner_password=DEMO_PASSWORD,
                owner_display_name="Demo Owner",
            ),
            timeout=30,
        )
        return created.tenant.name
