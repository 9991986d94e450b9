"""Visitor identity: per-chatbot secrets (encrypted at rest), signed visitor ids and anonymous ids."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

from services.runtime import errors
from services.runtime.sealing import Sealer

SECRET_PREFIX = "vsk_"
ANONYMOUS_PREFIX = "anon_"
MAX_VISITOR_ID_LENGTH = 256
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


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
    """Encrypts visitor secrets (sealed as services.runtime.sealing does); the plaintext verifies HMACs, so no hash."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    @classmethod
    def from_settings(cls, configured_key: str, internal_secret: str) -> SecretBox:
        """The configured base64url key, or one derived (HKDF-SHA256) from the internal secret."""
        return cls(
            Sealer.from_settings(
                configured_key,
                internal_secret,
                setting="AVATARCHAT_CHATBOT_VISITOR_SECRET_KEY",
                info=b"avatarchat chatbot visitor secrets v1",
            )
        )

    def seal(self, secret: str, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> bytes:
        """Version byte, nonce and ciphertext of `secret`."""
        return self._sealer.seal(secret.encode(), _aad(tenant_id, chatbot_id))

    def unseal(self, sealed: bytes, tenant_id: uuid.UUID, chatbot_id: uuid.UUID) -> str:
        """The secret in `sealed`; a ServiceError (INTERNAL) if it was tampered with or the key changed."""
        plaintext = self._sealer.open(sealed, _aad(tenant_id, chatbot_id), "visitor secret")
        try:
            return plaintext.decode()
        except UnicodeDecodeError:
            raise errors.ServiceError("visitor secret cannot be decrypted") from None
