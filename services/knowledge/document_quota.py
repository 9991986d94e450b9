"""The tenant's knowledge-document limit, held by TenantService: reserved before a document exists, released after."""

from __future__ import annotations

import logging
import uuid

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import errors, status
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


class DocumentQuota:
    """Calls TenantService.ReserveQuota/ReleaseQuota for LIMIT_KIND_KNOWLEDGE_DOCUMENTS with a service token."""

    def __init__(self, stub: tenant_pb2_grpc.TenantServiceAsyncStub, tokens: ServiceTokens, timeout: float) -> None:
        self._stub = stub
        self._tokens = tokens
        self._timeout = timeout

    async def reserve(self, tenant_id: uuid.UUID) -> None:
        """Takes one document of the plan's limit; LIMIT_EXCEEDED (or any upstream error) propagates."""
        request = tenant_pb2.ReserveQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS, amount=1
        )
        try:
            await self._stub.ReserveQuota(request, metadata=self._tokens.metadata(tenant_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Gives `amount` documents back; a failure is logged, not raised, since the documents are already gone."""
        if amount < 1:
            return
        request = tenant_pb2.ReleaseQuotaRequest(
            name=tenant_name(tenant_id), kind=tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS, amount=amount
        )
        try:
            await self._stub.ReleaseQuota(request, metadata=self._tokens.metadata(tenant_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            # Failing the delete would only invite a retry answering NOT_FOUND; the counter drifts until reconciled.
            log.error(
                "knowledge quota not released",
                extra={"tenant": str(tenant_id), "error": str(status.from_rpc_error(exc))},
            )
        except errors.ServiceError:
            log.exception("knowledge quota not released", extra={"tenant": str(tenant_id)})
