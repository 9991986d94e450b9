"""API keys: `ak_<key id>_<secret>`, shown once, stored as a SHA-256, scoped, revocable, last use recorded."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from services.auth.scopes import API_KEY_SCOPES
from services.auth.store import ApiKeyRow, AuthStore, NewApiKey
from services.runtime import errors
from services.runtime.context import Principal
from services.runtime.tokens import API_KEY_PREFIX
from services.runtime.validation import Checks

#: How much of a key is kept in the clear (`ak_` and 8 hex digits of its id) so users can recognise it.
PREFIX_LENGTH = len(API_KEY_PREFIX) + 8
MAX_SCOPES = len(API_KEY_SCOPES)


def secret_hash(key: str) -> bytes:
    """The stored form of a key: 256 random bits need no slow hash, so SHA-256 is enough."""
    return hashlib.sha256(key.encode()).digest()


def generate() -> tuple[uuid.UUID, str]:
    """A new key id and the full key that embeds it."""
    key_id = uuid.uuid4()
    return key_id, f"{API_KEY_PREFIX}{key_id.hex}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> uuid.UUID:
    """The key id a presented key names; UNAUTHENTICATED when it is not shaped like one of ours."""
    body = key.removeprefix(API_KEY_PREFIX)
    id_hex, sep, secret = body.partition("_")
    if body == key or not sep or len(id_hex) != 32 or len(secret) < 32:
        raise errors.Unauthenticated("invalid API key")
    try:
        return uuid.UUID(hex=id_hex)
    except ValueError:
        raise errors.Unauthenticated("invalid API key") from None


def check_scopes(checks: Checks, field: str, scopes: Sequence[str]) -> tuple[str, ...]:
    """The requested scopes, de-duplicated and sorted; each must be a known one."""
    if not scopes:
        checks.fail(field, "at least one scope is required")
        return ()
    if len(scopes) > MAX_SCOPES:
        checks.fail(field, f"at most {MAX_SCOPES} scopes")
        return ()
    unknown = [s for s in scopes if s not in API_KEY_SCOPES]
    if unknown:
        known = ", ".join(sorted(API_KEY_SCOPES))
        checks.fail(field, f"unknown scope {unknown[0][:60]!r}; known scopes: {known}")
    return tuple(sorted(set(scopes)))


class ApiKeys:
    """Creates keys and turns presented keys into principals (the auth service's own ApiKeyValidator)."""

    def __init__(self, store: AuthStore, *, touch_seconds: int) -> None:
        self._store = store
        self._touch_seconds = touch_seconds

    async def create(
        self,
        tenant_id: uuid.UUID,
        display_name: str,
        scopes: tuple[str, ...],
        expire_time: datetime | None,
        created_by: str,
    ) -> tuple[ApiKeyRow, str]:
        """Stores a new key and returns it with its secret, which is never available again."""
        key_id, key = generate()
        row = await self._store.insert_api_key(
            tenant_id,
            NewApiKey(
                id=key_id,
                display_name=display_name,
                scopes=scopes,
                prefix=key[:PREFIX_LENGTH],
                secret_hash=secret_hash(key),
                created_by=created_by,
                expire_time=expire_time,
            ),
        )
        return row, key

    async def check(self, key: str) -> tuple[Principal, datetime | None]:
        """The principal of a valid key and when it expires; UNAUTHENTICATED otherwise."""
        found = await self._store.find_api_key(key_id_of(key), secret_hash(key))
        if found is None:
            raise errors.Unauthenticated("invalid API key")
        now = datetime.now(UTC)
        if found.expire_time is not None and found.expire_time <= now:
            raise errors.Unauthenticated("API key expired")
        last = found.last_used_time
        # Written at most once per interval, so a busy key does not turn every call into a write.
        if last is None or (now - last).total_seconds() >= self._touch_seconds:
            await self._store.touch_api_key(found.tenant_id, found.id, self._touch_seconds)
        principal = Principal(
            kind="api_key",
            subject=str(found.id),
            tenant_id=found.tenant_id,
            scopes=frozenset(found.scopes),
            credential=key,
        )
        return principal, found.expire_time

    async def validate(self, key: str) -> Principal:
        """The principal of a valid key (the runtime's ApiKeyValidator signature)."""
        principal, _ = await self.check(key)
        return principal
