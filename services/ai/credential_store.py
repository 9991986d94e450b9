"""SQL of tenants' provider credentials (ai.provider_credentials), always inside one tenant's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from services.runtime.db import Database


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """One stored credential; the key stays sealed here and out of the repr."""

    provider: str
    base_url: str
    sealed_key: bytes = field(repr=False)
    update_user: str
    create_time: dt.datetime
    update_time: dt.datetime


class CredentialStore:
    """Reads and writes ai.provider_credentials."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self, tenant_id: uuid.UUID, provider: str, base_url: str, sealed_key: bytes, update_user: str
    ) -> CredentialRow:
        """Creates the provider's credential or replaces its key and base URL (keeping its create_time)."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                "INSERT INTO ai.provider_credentials (tenant_id, provider, base_url, sealed_key, update_user)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, provider) DO UPDATE SET"
                " base_url = excluded.base_url, sealed_key = excluded.sealed_key,"
                " update_user = excluded.update_user, update_time = now()"
                " RETURNING provider, base_url, sealed_key, update_user, create_time, update_time",
                tenant_id,
                provider,
                base_url,
                sealed_key,
                update_user,
            )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return CredentialRow(**dict(row))

    async def rows(self, tenant_id: uuid.UUID) -> list[CredentialRow]:
        """The tenant's credentials, ordered by provider."""
        async with self._db.tenant_tx(tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT provider, base_url, sealed_key, update_user, create_time, update_time"
                " FROM ai.provider_credentials WHERE tenant_id = $1 ORDER BY provider",
                tenant_id,
            )
        return [CredentialRow(**dict(r)) for r in rows]

    async def delete(self, tenant_id: uuid.UUID, provider: str) -> bool:
        """Deletes the provider's credential; False when there was none."""
        async with self._db.tenant_tx(tenant_id) as conn:
            status = await conn.execute(
                "DELETE FROM ai.provider_credentials WHERE tenant_id = $1 AND provider = $2", tenant_id, provider
            )
        return status == "DELETE 1"
