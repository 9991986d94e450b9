"""The ES256 key ring: one active signing key, rotated on a schedule, retired keys published until unused."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm

from services.auth.key_store import SigningKeyRow, SigningKeyStore

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
_NONCE_BYTES = 12
#: A kid nobody knows makes the ring re-read the database at most this often (Validate is public).
_UNKNOWN_KID_RELOAD_SECONDS = 1.0


class KeyCipher:
    """Seals private keys with AES-256-GCM under a key derived (HKDF) from the internal secret."""

    def __init__(self, internal_secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"avatarchat-auth/signing-keys/v1").derive(
            internal_secret.encode()
        )
        self._aead = AESGCM(derived)

    def seal(self, kid: str, plaintext: bytes) -> bytes:
        """Nonce followed by ciphertext; the kid is bound as associated data so rows cannot be swapped."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, kid: str, sealed: bytes) -> bytes:
        """The plaintext of `seal(kid, ...)`; raises InvalidTag when the secret or kid differs."""
        return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], kid.encode())


@dataclass(frozen=True)
class SigningKey:
    """A published key; `private` is None when this process cannot decrypt it (another secret)."""

    kid: str
    public: jwt.PyJWK
    jwk: Mapping[str, str]
    private: ec.EllipticCurvePrivateKey | None
    create_time: datetime
    retire_time: datetime | None


def new_key_material() -> tuple[str, ec.EllipticCurvePrivateKey, dict[str, str]]:
    """A fresh P-256 key pair: its kid, private key and public JWK."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = secrets.token_urlsafe(12)
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public = {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return kid, private, public


class KeyRing:
    """Signs with the active key, rotating it when due, and is the JwksSource of the auth service itself.

    State lives in the database so every auth replica signs with the same key and publishes the same set;
    each process caches it for `cache_seconds`.
    """

    def __init__(
        self,
        store: SigningKeyStore,
        cipher: KeyCipher,
        *,
        rotation_seconds: float,
        publish_seconds: float,
        cache_seconds: float,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._rotation = timedelta(seconds=rotation_seconds)
        self._publish = timedelta(seconds=publish_seconds)
        self._cache_seconds = cache_seconds
        self._keys: dict[str, SigningKey] = {}
        self._active: SigningKey | None = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Reads the published keys from the database."""
        rows = await self._store.published(datetime.now(UTC) - self._publish)
        keys = {row.kid: self._decode(row) for row in rows}
        self._keys = keys
        self._active = next((k for k in keys.values() if k.retire_time is None), None)
        self._loaded_at = time.monotonic()

    def _decode(self, row: SigningKeyRow) -> SigningKey:
        private: ec.EllipticCurvePrivateKey | None = None
        try:
            loaded = serialization.load_der_private_key(self._cipher.open(row.kid, row.private_key), None)
            if isinstance(loaded, ec.EllipticCurvePrivateKey):
                private = loaded
        except (InvalidTag, ValueError):
            # Sealed under another internal secret: still publishable, never usable for signing here.
            log.warning("cannot decrypt signing key", extra={"kid": row.kid})
        jwk = {k: str(v) for k, v in row.public_jwk.items()}
        return SigningKey(
            kid=row.kid,
            public=jwt.PyJWK(jwk, algorithm=ALGORITHM),
            jwk=jwk,
            private=private,
            create_time=row.create_time,
            retire_time=row.retire_time,
        )

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self._cache_seconds:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= self._cache_seconds:
                    await self.reload()

    def _due(self, key: SigningKey | None) -> bool:
        if key is None or key.private is None:
            return True
        return datetime.now(UTC) - key.create_time >= self._rotation

    async def active(self) -> SigningKey:
        """The key to sign with now; creates or rotates it when there is none or it is due."""
        await self._fresh()
        if self._due(self._active):
            async with self._lock:
                await self.reload()
                if self._due(self._active):
                    await self._rotate_locked()
        assert self._active is not None
        return self._active

    async def rotate(self) -> SigningKey:
        """Replaces the active key now (an operator's or a test's rotation); the old one stays published."""
        async with self._lock:
            await self.reload()
            await self._rotate_locked()
        assert self._active is not None
        return self._active

    async def _rotate_locked(self) -> None:
        expected = self._active.kid if self._active else None
        kid, private, public = new_key_material()
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        purge_before = datetime.now(UTC) - self._publish - timedelta(days=1)
        if await self._store.rotate(expected, kid, public, self._cipher.seal(kid, der), purge_before):
            log.info("rotated signing key", extra={"kid": kid, "retired": expected})
        # Whether this replica or another rotated, the database now holds the key to use.
        await self.reload()
        if self._active is None or self._active.private is None:
            raise RuntimeError("no usable signing key after rotation (internal secrets differ between replicas?)")

    async def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact ES256 JWS of `claims` with the active key's kid in the header."""
        key = await self.active()
        assert key.private is not None  # active() only returns keys this process can sign with
        return jwt.encode(dict(claims), key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The published key `kid` (JwksSource); an unknown kid re-reads the database, at most once a second."""
        await self._fresh()
        found = self._keys.get(kid)
        if found is None and time.monotonic() - self._loaded_at >= _UNKNOWN_KID_RELOAD_SECONDS:
            async with self._lock:
                if kid not in self._keys:
                    await self.reload()
            found = self._keys.get(kid)
        return None if found is None else found.public

    async def jwks(self) -> list[Mapping[str, str]]:
        """The published public keys, active first; read fresh (at most once a second) for other services."""
        if time.monotonic() - self._loaded_at >= _UNKNOWN_KID_RELOAD_SECONDS:
            async with self._lock:
                await self.reload()
        if self._active is None:
            await self.active()
        return [k.jwk for k in sorted(self._keys.values(), key=lambda k: k.create_time, reverse=True)]
