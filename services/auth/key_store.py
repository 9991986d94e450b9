"""SQL of the platform-wide signing keys (no tenant, no RLS): load the published ones, rotate atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.runtime.db import Database

#: Serialises rotation across every auth replica sharing the database.
_ROTATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('avatarchat.auth.signing_keys'))"


@dataclass(frozen=True)
class SigningKeyRow:
    """One signing key as stored; `private_key` is nonce + AES-GCM ciphertext of the PKCS#8 DER."""

    kid: str
    public_jwk: dict[str, Any]
    private_key: bytes
    create_time: datetime
    retire_time: datetime | None


class SigningKeyStore:
    """Reads and rotates `auth.signing_keys`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def published(self, retired_after: datetime) -> list[SigningKeyRow]:
        """The active key and every key retired after `retired_after`, newest first."""
        async with self._db.platform_tx() as conn:
            rows = await conn.fetch(
                "SELECT kid, public_jwk, private_key, create_time, retire_time FROM auth.signing_keys"
                " WHERE retire_time IS NULL OR retire_time > $1 ORDER BY create_time DESC",
                retired_after,
            )
        return [
            SigningKeyRow(
                kid=r["kid"],
                public_jwk=dict(r["public_jwk"]),
                private_key=bytes(r["private_key"]),
                create_time=r["create_time"],
                retire_time=r["retire_time"],
            )
            for r in rows
        ]

    async def rotate(
        self,
        expected_active: str | None,
        kid: str,
        public_jwk: dict[str, Any],
        private_key: bytes,
        purge_before: datetime,
    ) -> bool:
        """Retires the active key and inserts a new one, unless another replica already replaced
        `expected_active`; keys retired before `purge_before` (no token they signed is alive) are deleted."""
        async with self._db.platform_tx() as conn:
            await conn.execute(_ROTATION_LOCK)
            active = await conn.fetchval("SELECT kid FROM auth.signing_keys WHERE retire_time IS NULL")
            if active != expected_active:
                return False
            await conn.execute("UPDATE auth.signing_keys SET retire_time = now() WHERE retire_time IS NULL")
            await conn.execute(
                "INSERT INTO auth.signing_keys (kid, public_jwk, private_key) VALUES ($1, $2, $3)",
                kid,
                public_jwk,
                private_key,
            )
            await conn.execute("DELETE FROM auth.signing_keys WHERE retire_time < $1", purge_before)
        return True
