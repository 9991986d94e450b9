"""Fixed-window request limits in Redis, with draft-ietf-httpapi-ratelimit-headers on every answer.

A fixed window (one INCR per bucket, one round trip for all buckets) keeps the headers exact: the
remaining count and the reset time are what the next window really does. Redis trouble fails open:
a limiter outage must not take the API down with it.

Safe requests (GET, HEAD) may be counted while they run (see `RateLimiter.reserve` and the
middleware): only while every bucket they count against had a tenth of its limit left at the last
count this process saw, so a caller near or past a limit always waits for the count before any
upstream call, and the answer always waits for it, with exact headers or a 429.

The deadline is one `asyncio.timeout` around the whole call rather than redis-py's `socket_timeout`,
which wraps every write in `asyncio.wait_for` (an extra task per request on Python 3.11); a call
cut short leaves no half-read reply behind, as redis-py drops a connection interrupted mid-command.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Share of a bucket's limit that must be left (at the last count seen) for a safe request to be counted while it runs.
HEADROOM_SHARE = 0.1
_SEEN_MAX = 10_000

#: INCR every bucket of the current window; a new counter expires after two windows.
_HIT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""


@dataclass(frozen=True)
class Bucket:
    """One counter a request counts against, and its limit per window."""

    key: str
    limit: int


@dataclass(frozen=True)
class Quota:
    """The state of the tightest bucket after counting a request."""

    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        """RateLimit-Limit/-Remaining/-Reset and -Policy, plus Retry-After when refused."""
        out = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset_seconds),
            "ratelimit-policy": f"{self.limit};w={self.window_seconds}",
        }
        if not self.allowed:
            out["retry-after"] = str(self.reset_seconds)
        return out


class RateLimiter:
    """Counts requests per bucket and window in Redis."""

    def __init__(self, redis: aioredis.Redis, prefix: str, window_seconds: int, timeout_seconds: float = 0.5) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window_seconds
        self._timeout = timeout_seconds
        self._script = redis.register_script(_HIT)
        # What is left of each bucket in its window, by counter key, as this process last counted it
        # less the requests it let run since: an estimate that only decides whether to wait.
        self._left: dict[str, int] = {}

    def _keys(self, buckets: Sequence[Bucket], window: int) -> list[str]:
        return [f"{self._prefix}:{b.key}:{window}" for b in buckets]

    def reserve(self, buckets: Sequence[Bucket], now: float | None = None) -> bool:
        """Whether a safe request may run while it is counted: every bucket had headroom at its last count here."""
        now = time.time() if now is None else now
        keys = self._keys(buckets, math.floor(now / self._window))
        for key, bucket in zip(keys, buckets, strict=True):
            left = self._left.get(key)
            if left is None or left - 1 < max(1, math.ceil(bucket.limit * HEADROOM_SHARE)):
                return False
        for key in keys:
            self._left[key] -= 1
        return True

    async def hit(self, buckets: Sequence[Bucket], now: float | None = None) -> Quota | None:
        """Counts one request in every bucket; None when Redis could not be asked (fail open)."""
        now = time.time() if now is None else now
        window = math.floor(now / self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        keys = self._keys(buckets, window)
        try:
            async with asyncio.timeout(self._timeout):
                counts = await self._script(keys=keys, args=[2 * self._window])
        except (RedisError, OSError, TimeoutError):
            log.warning("rate limiter unavailable; letting the request through", exc_info=True)
            return None
        if len(self._left) >= _SEEN_MAX:
            self._left.clear()
        quotas = []
        for key, bucket, n in zip(keys, buckets, counts, strict=True):
            self._left[key] = bucket.limit - int(n)
            quotas.append(
                Quota(bucket.limit, max(0, bucket.limit - int(n)), reset, self._window, int(n) <= bucket.limit)
            )
        refused = [q for q in quotas if not q.allowed]
        if refused:
            return refused[0]
        return min(quotas, key=lambda q: q.remaining)
