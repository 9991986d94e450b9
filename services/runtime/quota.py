"""Plan quota held by the tenant service, reserved and released by the services whose resources it counts."""

from __future__ import annotations

import logging
import uuid

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import errors, status
from services.runtime.clients import with_request_id
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


class PlanQuota:
    """One limit of a tenant's plan (chatbots, seats, documents, bytes, messages), called as this service."""

    def __init__(
        self,
        stub: tenant_pb2_grpc.TenantServiceAsyncStub,
        tokens: ServiceTokens,
        kind: tenant_pb2.LimitKind.ValueType,
        timeout: float | None = None,
    ) -> None:
        self._stub = stub
        self._tokens = tokens
        self._kind = kind
        self._timeout = timeout

    async def reserve(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Takes `amount` of the limit; LIMIT_EXCEEDED (or any upstream error) propagates unchanged."""
        request = tenant_pb2.ReserveQuotaRequest(name=tenant_name(tenant_id), kind=self._kind, amount=amount)
        try:
            await self._stub.ReserveQuota(
                request, metadata=with_request_id(self._tokens.metadata(tenant_id)), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Gives `amount` back; an upstream error propagates."""
        if amount < 1:
            return
        request = tenant_pb2.ReleaseQuotaRequest(name=tenant_name(tenant_id), kind=self._kind, amount=amount)
        try:
            await self._stub.ReleaseQuota(
                request, metadata=with_request_id(self._tokens.metadata(tenant_id)), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release_or_log(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Gives `amount` back after the counted thing is already gone: a failure only over-counts, so it is logged."""
        try:
            await self.release(tenant_id, amount)
        except errors.ServiceError as exc:
            log.error(
                "quota not released",
                extra={
                    "tenant": str(tenant_id),
                    "kind": tenant_pb2.LimitKind.Name(self._kind),
                    "amount": amount,
                    "error": str(exc),
                },
            )
