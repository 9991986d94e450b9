"""What the avatar service asks the tenant service: STORAGE_BYTES quota for uploaded models."""

from __future__ import annotations

import logging
import uuid

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import status
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


class StorageQuota:
    """Reserves and releases storage bytes of a tenant's plan, calling as this service for that tenant."""

    def __init__(self, stub: tenant_pb2_grpc.TenantServiceAsyncStub, tokens: ServiceTokens, timeout: float) -> None:
        self._stub = stub
        self._tokens = tokens
        self._timeout = timeout

    async def reserve(self, tenant_id: uuid.UUID, size: int) -> None:
        """Takes `size` bytes; LIMIT_EXCEEDED (or any upstream error) propagates unchanged."""
        request = tenant_pb2.ReserveQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_STORAGE_BYTES, amount=size
        )
        try:
            await self._stub.ReserveQuota(request, metadata=self._tokens.metadata(tenant_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release(self, tenant_id: uuid.UUID, size: int) -> None:
        """Gives `size` bytes back; a failure is logged, not raised (it only over-counts until reconciled)."""
        request = tenant_pb2.ReleaseQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_STORAGE_BYTES, amount=size
        )
        try:
            await self._stub.ReleaseQuota(request, metadata=self._tokens.metadata(tenant_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "storage quota not released", extra={"tenant": str(tenant_id), "bytes": size, "code": exc.code().name}
            )
