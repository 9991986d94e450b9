"""The auth service's view of the tenant service: slug lookup, over gRPC."""

from __future__ import annotations

import uuid

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import status
from services.runtime.names import parse_tenant
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
