"""Visitor identity: per-chatbot secrets (encrypted at rest), signed visitor ids and anonymous ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.runtime import errors

SECRET_PREFIX = "vsk_"
ANONYMOUS_PREFIX = "anon_"
MAX_VISITOR_ID_LENGTH = 256
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
_VERSION = b"\x01"
_NONCE_BYTES = 12


def new_secret() -> str:
    """`vsk_` and 43 URL-safe base64 characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_anonymous_id() -> str:
    """A fresh anonymous visitor id, `anon_` and a UUID."""
    return f"{ANONYMOUS_PREFIX}{uuid.uuid4()}"


def is_anonymous_id(visitor_id: str) -> bool:
    """Whether `visitor_id` is `anon_` followed by a canonical UUID."""
    rest = visitor_id.removeprefix(ANONYMOUS_PREFIX)
    if rest == visitor_id:
        return False
    try:
        return str(uuid.UUID(rest)) == rest
    except ValueError:
        return False


def signature(secret: str, visitor_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of the visitor id keyed with the secret, as the tenant's server computes it."""
    return hmac.new(secret.encode(), visitor_id.encode(), hashlib.sha256).hexdigest()


def signature_valid(secret: str, visitor_id: str, presented: str) -> bool:
    """Constant-time comparison of a presented signature (hex, any case) with the expected one."""
    if not _SIGNATURE.match(presented):
        return False
    return hmac.compare_digest(signature(secret, visitor_id).encode(), presented.lower().encode())


def _aad(tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> bytes:
    # Binding the ciphertext to its row means a secret copied onto another chatbot fails to decrypt.
    return b"avatarchat.chatbot.visitor-secret:" + tenant_id.bytes + chatbot_id.bytes


class SecretBox:
    """Encrypts visitor secrets with AES-256-GCM; the plaintext is needed to verify HMACs, so no hashing."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("visitor secret key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, configured_key: str, internal_secret: str) -> SecretBox:
        """The configured base64url key, or one derived (HKDF-SHA256) from the internal secret."""
        if configured_key:
            try:
                key = base64.urlsafe_b64decode(configured_key + "=" * (-len(configured_key) % 4))
            except ValueError:
                raise ValueError("AVATARCHAT_CHATBOT_VISITOR_SECRET_KEY must be base64url") from None
            return cls(key)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"avatarchat chatbot visitor secrets v1")
        return cls(hkdf.derive(internal_secret.encode()))

    def seal(self, secret: str, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> bytes:
        """Version byte, nonce and ciphertext of `secret`."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), _aad(tenant_id, chatbot_id))

    def unseal(self, sealed: bytes, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> str:
        """The secret in `sealed`; a ServiceError (INTERNAL) if it was tampered with or the key changed."""
        if sealed[:1] != _VERSION:
            raise errors.ServiceError("visitor secret has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, _aad(tenant_id, chatbot_id)).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise errors.ServiceError("visitor secret cannot be decrypted") from None
