"""The auth service's view of the tenant service: slug lookup and seat quota, over gRPC."""

from __future__ import annotations

import uuid

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import status
from services.runtime.names import parse_tenant, tenant_name
from services.runtime.tokens import ServiceTokens


class TenantDirectory:
    """Calls TenantService as the auth service itself (service tokens), never with a caller's credential."""

    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens) -> None:
        self._stub = tenant_pb2_grpc.TenantServiceStub(channel)
        self._tokens = tokens

    async def lookup(self, slug: str) -> uuid.UUID | None:
        """The id of the tenant with `slug`, or None when there is none."""
        try:
            response = await self._stub.LookupTenant(
                tenant_pb2.LookupTenantRequest(slug=slug), metadata=self._tokens.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise status.from_rpc_error(exc) from None
        return parse_tenant(response.name)

    async def reserve_seat(self, tenant_id: uuid.UUID) -> None:
        """Takes one seat of the tenant's plan; LIMIT_EXCEEDED propagates to the caller."""
        request = tenant_pb2.ReserveQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_SEATS, amount=1
        )
        try:
            await self._stub.ReserveQuota(request, metadata=self._tokens.metadata(tenant_id))
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release_seat(self, tenant_id: uuid.UUID) -> None:
        """Gives a seat back (a user could not be created after all)."""
        request = tenant_pb2.ReleaseQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_SEATS, amount=1
        )
        try:
            await self._stub.ReleaseQuota(request, metadata=self._tokens.metadata(tenant_id))
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
