"""Login throttling per account and per client address: fixed-window counters in Redis."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

import redis.asyncio as aioredis

from services.runtime import errors

_PREFIX = "auth:login:"

# DECR on a key whose window has just expired would create it without a TTL; only touch live counters.
_DECREMENT_LIVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def account_key(tenant_slug: str, email: str) -> str:
    """The counter of one tenant's e-mail; hashed so Redis holds no addresses in the clear."""
    digest = hashlib.sha256(f"{tenant_slug}\x00{email}".encode()).hexdigest()
    return f"{_PREFIX}account:{digest}"


def address_key(address: str) -> str:
    """The counter of one client address."""
    return f"{_PREFIX}address:{address}"


class LoginThrottle:
    """Counts login attempts before the password is checked, so parallel guesses cannot slip past."""

    def __init__(self, redis: aioredis.Redis, *, account_limit: int, address_limit: int, window_seconds: int) -> None:
        self._redis = redis
        self._account_limit = account_limit
        self._address_limit = address_limit
        self._window = window_seconds
        self._decrement = redis.register_script(_DECREMENT_LIVE)

    async def attempt(self, tenant_slug: str, email: str, address: str) -> None:
        """Counts an attempt; RATE_LIMITED (with retry_after_seconds) when either limit is passed."""
        account, client = account_key(tenant_slug, email), address_key(address)
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in (account, client):
                pipe.incr(key)
                # NX: the window starts at the first attempt and further attempts do not stretch it.
                pipe.expire(key, self._window, nx=True)
                pipe.ttl(key)
            results: list[Any] = await pipe.execute()
        account_count, account_ttl = int(results[0]), int(results[2])
        address_count, address_ttl = int(results[3]), int(results[5])
        if account_count > self._account_limit:
            raise errors.RateLimited("login attempts for this account", max(account_ttl, 1))
        if address_count > self._address_limit:
            raise errors.RateLimited("login attempts from this address", max(address_ttl, 1))

    async def succeeded(self, tenant_slug: str, email: str, address: str) -> None:
        """Forgets the account's attempts and takes the successful one off the address count."""
        await self._redis.delete(account_key(tenant_slug, email))
        await self._decrement(keys=[address_key(address)])


def client_address(forwarded_for: str | None, peer: str) -> str:
    """The caller's IP: the entry our edge appended to `x-forwarded-for` (the last), else the TCP peer.

    Only the edge can reach the auth service in a deployment (Istio AuthorizationPolicy), so the last
    entry is the address the edge itself saw; earlier entries are whatever the client claimed.
    """
    if forwarded_for:
        candidate = forwarded_for.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    # grpc peers look like `ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000` or `unix:/path`.
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer or "unknown"
