"""Sessions as refresh-token families in Redis: rotate on every use, detect reuse, revoke a whole family.

A refresh token is `<family id>.<secret>`; Redis keeps only SHA-256 hashes: the family's current token
and the set of tokens it has already rotated past. Presenting one of those again means the token was
copied, so the whole family (every device copy and every access token naming it as `sid`) is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from services.runtime import errors

_PREFIX = "auth:session:"

# Compare-and-rotate in one step, so two concurrent uses of one token cannot both succeed.
_ROTATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return {'revoked'} end
if redis.call('HGET', KEYS[1], 'current') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return {'rotated', redis.call('HGET', KEYS[1], 'tenant'), redis.call('HGET', KEYS[1], 'user')}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return {'reused'}
end
return {'unknown'}
"""

# Logout with the current or an earlier token of the family ends it; a guessed token does nothing.
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'current') == ARGV[1] or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 'revoked'
end
return 'unknown'
"""


@dataclass(frozen=True)
class Session:
    """A refresh-token family: who it belongs to and its id (the `sid` of its access tokens)."""

    id: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _family_of(token: str) -> str:
    family, sep, secret = token.partition(".")
    if not sep or len(family) != 32 or not secret or any(c not in "0123456789abcdef" for c in family):
        raise errors.Unauthenticated("invalid refresh token")
    return family


class SessionStore:
    """Starts, rotates, revokes and checks sessions."""

    def __init__(self, redis: aioredis.Redis, *, refresh_ttl_seconds: int, revoked_ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = refresh_ttl_seconds
        # A revoked family is remembered as long as an access token naming it could still be presented.
        self._revoked_ttl = revoked_ttl_seconds
        self._rotate = redis.register_script(_ROTATE)
        self._revoke = redis.register_script(_REVOKE)

    @staticmethod
    def _keys(family: str) -> list[str]:
        return [f"{_PREFIX}{family}", f"{_PREFIX}{family}:used"]

    @staticmethod
    def _new_token(family: str) -> str:
        return f"{family}.{secrets.token_urlsafe(32)}"

    async def start(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Session, str]:
        """A new session and its first refresh token."""
        family = uuid.uuid4().hex
        token = self._new_token(family)
        key = self._keys(family)[0]
        mapping: dict[Any, Any] = {
            "tenant": str(tenant_id),
            "user": str(user_id),
            "current": _hash(token),
            "revoked": "0",
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self._ttl)
            await pipe.execute()
        return Session(family, tenant_id, user_id), token

    async def rotate(self, token: str) -> tuple[Session, str]:
        """The session of `token` and its next token; TokenReused (family revoked) for a used one."""
        family = _family_of(token)
        new_token = self._new_token(family)
        result: list[Any] = await self._rotate(
            keys=self._keys(family), args=[_hash(token), _hash(new_token), self._ttl, self._revoked_ttl]
        )
        outcome = _text(result[0])
        if outcome == "rotated":
            return Session(family, uuid.UUID(_text(result[1])), uuid.UUID(_text(result[2]))), new_token
        if outcome == "reused":
            raise errors.TokenReused("refresh token was already used; the session has been revoked")
        if outcome == "revoked":
            raise errors.Unauthenticated("session has been revoked")
        raise errors.Unauthenticated("invalid refresh token")

    async def revoke(self, token: str) -> bool:
        """Ends the session `token` belongs to; False when the token matches no live session."""
        family = _family_of(token)
        outcome = await self._revoke(keys=self._keys(family), args=[_hash(token), self._revoked_ttl])
        return _text(outcome) == "revoked"

    async def revoke_family(self, family: str) -> None:
        """Ends a session by id (e.g. its user disappeared)."""
        key = self._keys(family)[0]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "revoked", "1")
            pipe.expire(key, self._revoked_ttl)
            await pipe.execute()

    async def is_active(self, family: str) -> bool:
        """Whether the session exists and is not revoked (expired sessions are gone from Redis)."""
        if not family:
            return False
        revoked = await self._redis.hget(self._keys(family)[0], "revoked")
        return revoked is not None and _text(revoked) == "0"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
