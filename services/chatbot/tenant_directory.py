"""What the chatbot service asks the tenant service: a tenant's language and time zone."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantDefaults:
    """A tenant's settings that chatbots inherit when they leave theirs empty."""

    language: str = ""
    time_zone: str = ""


class TenantDirectory:
    """Calls TenantService as this service, scoped to one tenant per call."""

    def __init__(self, stub: tenant_pb2_grpc.TenantServiceAsyncStub, tokens: ServiceTokens, timeout: float) -> None:
        self._stub = stub
        self._tokens = tokens
        self._timeout = timeout

    async def defaults(self, tenant_id: uuid.UUID) -> TenantDefaults:
        """The tenant's default language and time zone; empty ones when the tenant service cannot answer."""
        try:
            response = await self._stub.GetTenant(
                tenant_pb2.GetTenantRequest(name=tenant_name(tenant_id)),
                metadata=self._tokens.metadata(tenant_id),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            # The widget still works with the bot's own settings (UTC hours, the browser's language).
            log.warning("tenant defaults unavailable", extra={"tenant": str(tenant_id), "code": exc.code().name})
            return TenantDefaults()
        config = response.tenant.config
        return TenantDefaults(language=config.default_language, time_zone=config.time_zone)
