"""Tenants' own provider keys: sealed at rest, opened only to build a client, never returned or logged.

Every set or delete moves the tenant's stamp in Redis (a random token, so a flushed or expired stamp can never
come back with an old value) and publishes the tenant's id on `CHANGED_CHANNEL`, in one round trip. Processes
subscribed to the channel (`credential_watch.py`) drop their cached clients when the message arrives and read no
stamp; one that is not subscribed compares the stamp on each answer, at the cost of one Redis round trip.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import SecretStr
from redis.exceptions import RedisError

from avatarchat.ai.v1 import ai_pb2
from services.ai.credential_store import CredentialRow, CredentialStore
from services.runtime.errors import ServiceError
from services.runtime.sealing import Sealer

log = logging.getLogger(__name__)

#: Providers a tenant may bring its own key for; operators' own compatible servers stay platform settings.
TENANT_PROVIDERS = ("anthropic", "gemini", "openai", "vertex")
COLLECTION = "providerCredentials"
_STAMP_PREFIX = "ai:credentials:stamp:"
#: Where every set or delete publishes the tenant's id (as text).
CHANGED_CHANNEL = "ai:credentials:changed"


def credential_name(tenant_id: uuid.UUID, provider: str) -> str:
    """`tenants/{tenant}/providerCredentials/{provider}`."""
    return f"tenants/{tenant_id}/{COLLECTION}/{provider}"


def _associated(tenant_id: uuid.UUID, provider: str, base_url: str) -> bytes:
    # Bound to tenant, provider and URL: a sealed key copied to another row, or a URL changed in the database,
    # fails to open instead of sending the key somewhere else.
    return b"avatarchat.ai.provider-credential:" + tenant_id.bytes + provider.encode() + b"\0" + base_url.encode()


@dataclass(frozen=True, slots=True)
class TenantKey:
    """An opened credential, only ever handed to a provider's client."""

    provider: str
    base_url: str
    api_key: SecretStr = field(repr=False)
    fingerprint: bytes = field(repr=False)
    """The sealed bytes: a fresh nonce on every set, so equal fingerprints mean an unchanged credential."""


def credential_proto(tenant_id: uuid.UUID, row: CredentialRow) -> ai_pb2.ProviderCredential:
    """The ai.v1 ProviderCredential of a row; it has no field that could carry the key."""
    create_time, update_time = Timestamp(), Timestamp()
    create_time.FromDatetime(row.create_time)
    update_time.FromDatetime(row.update_time)
    return ai_pb2.ProviderCredential(
        name=credential_name(tenant_id, row.provider),
        provider=row.provider,
        base_url=row.base_url,
        create_time=create_time,
        update_time=update_time,
        update_user=row.update_user,
    )


class CredentialStamps:
    """One random stamp per tenant in Redis that changes whenever the tenant's credentials change."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def current(self, tenant_id: uuid.UUID) -> str | None:
        """The tenant's stamp, created when missing; None when Redis cannot answer."""
        fresh = uuid.uuid4().hex
        try:
            # One round trip: SET NX GET returns the existing stamp, or None after storing the fresh one.
            old = await self._redis.set(_STAMP_PREFIX + str(tenant_id), fresh, nx=True, get=True, ex=self._ttl)
        except (RedisError, OSError) as exc:
            log.warning("credential stamp unavailable: %s", type(exc).__name__)
            return None
        if old is None:
            return fresh
        return old.decode() if isinstance(old, bytes) else str(old)

    async def move(self, tenant_id: uuid.UUID) -> None:
        """Gives the tenant a new stamp and announces the change, so every process reloads its credentials."""
        try:
            # One round trip for both; the stamp is kept for the processes not subscribed at the moment.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(_STAMP_PREFIX + str(tenant_id), uuid.uuid4().hex, ex=self._ttl)
                pipe.publish(CHANGED_CHANNEL, str(tenant_id))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # The change is stored; processes still pick it up once their cached copy reaches its maximum age.
            log.error("credential stamp not moved: %s", type(exc).__name__, extra={"tenant": str(tenant_id)})


class ProviderCredentials:
    """Sets, lists, deletes and opens a tenant's provider credentials."""

    def __init__(self, store: CredentialStore, sealer: Sealer, stamps: CredentialStamps) -> None:
        self._store = store
        self._sealer = sealer
        self.stamps = stamps
        """The tenants' credential stamps, which answers compare with their cached clients while not subscribed."""
        self._listeners: list[Callable[[uuid.UUID], None]] = []

    def subscribe(self, listener: Callable[[uuid.UUID], None]) -> None:
        """Calls `listener(tenant_id)` after every change made through this process."""
        self._listeners.append(listener)

    async def _changed(self, tenant_id: uuid.UUID) -> None:
        for listener in self._listeners:
            listener(tenant_id)
        await self.stamps.move(tenant_id)

    async def set(
        self, tenant_id: uuid.UUID, provider: str, api_key: str, base_url: str, update_user: str
    ) -> CredentialRow:
        """Seals and stores the key (replacing any earlier one), then moves the tenant's stamp."""
        sealed = self._sealer.seal(api_key.encode(), _associated(tenant_id, provider, base_url))
        row = await self._store.upsert(tenant_id, provider, base_url, sealed, update_user)
        await self._changed(tenant_id)
        return row

    async def rows(self, tenant_id: uuid.UUID) -> list[CredentialRow]:
        """The tenant's credentials (sealed), ordered by provider."""
        return await self._store.rows(tenant_id)

    async def delete(self, tenant_id: uuid.UUID, provider: str) -> bool:
        """Deletes the provider's credential and moves the stamp; False when there was none."""
        deleted = await self._store.delete(tenant_id, provider)
        if deleted:
            await self._changed(tenant_id)
        return deleted

    async def keys(self, tenant_id: uuid.UUID) -> list[TenantKey]:
        """The tenant's opened keys; one that cannot be opened (another sealing key) is logged and left out."""
        keys = []
        for row in await self._store.rows(tenant_id):
            try:
                plain = self._sealer.open(
                    row.sealed_key, _associated(tenant_id, row.provider, row.base_url), "provider credential"
                ).decode()
            except (ServiceError, UnicodeDecodeError) as exc:  # one unreadable row must not stop the tenant's answers
                log.error("provider credential unusable: %s", exc, extra={"provider": row.provider})
                continue
            keys.append(TenantKey(row.provider, row.base_url, SecretStr(plain), row.sealed_key))
        return keys
