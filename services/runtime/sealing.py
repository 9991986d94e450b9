"""Secrets sealed at rest: AES-256-GCM (the `cryptography` package) bound to their row by associated data.

Every service that must store a secret it later needs in plaintext (visitor secrets, tenants' provider keys)
uses this one format: a version byte, a 12-byte random nonce, then the ciphertext with its tag.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.runtime import errors

_VERSION = b"\x01"
_NONCE_BYTES = 12


class Sealer:
    """Seals and opens secrets with one 32-byte key; the associated data ties a ciphertext to its row."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, configured_key: str, internal_secret: str, *, setting: str, info: bytes) -> Sealer:
        """The configured base64url key (named `setting` in errors), or one derived (HKDF-SHA256) with `info`."""
        if configured_key:
            try:
                key = base64.urlsafe_b64decode(configured_key + "=" * (-len(configured_key) % 4))
            except ValueError:
                raise ValueError(f"{setting} must be base64url") from None
            if len(key) != 32:
                raise ValueError(f"{setting} must decode to 32 bytes")
            return cls(key)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        return cls(hkdf.derive(internal_secret.encode()))

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """Version byte, nonce and ciphertext of `plaintext`, bound to `associated`."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes, what: str = "secret") -> bytes:
        """The plaintext of `sealed`; a ServiceError (INTERNAL) if it was tampered with, moved or the key changed."""
        if sealed[:1] != _VERSION:
            raise errors.ServiceError(f"{what} has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, associated)
        except InvalidTag:
            raise errors.ServiceError(f"{what} cannot be decrypted") from None
