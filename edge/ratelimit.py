"""Fixed-window request limits counted in Redis and leased to each process in blocks, with
draft-ietf-httpapi-ratelimit-headers on every answer.

Each bucket has one Redis counter per fixed window. A process does not count every request there: it
takes a block of units with one INCRBY (one Lua call for all the buckets of a request that need one)
and spends them locally, so a busy caller costs one round trip per block rather than per request. A
block is as large as the bucket's requests in this or the last second, at most a tenth of its limit
and `MAX_BLOCK`. A quiet bucket therefore takes single units, and so does one that had fewer than
`NEAR_BLOCKS` blocks left at the last count this process saw: a caller near its limit is counted
exactly, as without leasing, and gets an exact 429. Requests that arrive while a block is on its way
claim its units in order rather than asking for more, so a burst does not lease more than it uses.

Every unit spent was counted in Redis within the limit, so limits hold across processes. Units still
unspent when a window ends are dropped: they were counted in that window, so with several processes a
limit can come out slightly stricter (by at most one block per process and bucket), never looser; with
one process nothing changes, as the next window starts from zero anyway. `RateLimit-Remaining` is the
limit less the count at this process's last lease plus the units it still holds: exact with one
process, as of its last lease with several. Counts never fall within a window, so a bucket seen at its
limit is refused here until the window ends, without asking Redis again.

A request that must wait for a block may still run meanwhile when it is safe (GET, HEAD) and every bucket
it waits on was far from its limit (see `Pending.far_from_limit` and the middleware); near a limit it
waits for the count before any upstream call.

Redis trouble fails open: a limiter outage must not take the API down with it. The deadline is one
`asyncio.timeout` around the whole call rather than redis-py's `socket_timeout`, which wraps every
write in `asyncio.wait_for` (an extra task per request on Python 3.11); a call cut short leaves no
half-read reply behind, as redis-py drops a connection interrupted mid-command.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Most units one lease takes of a bucket.
MAX_BLOCK = 20
#: Largest share of a bucket's limit one block may hold.
BLOCK_SHARE = 0.1
#: A bucket with fewer than this many blocks left at the last count is leased one unit at a time.
NEAR_BLOCKS = 4
_SEEN_MAX = 10_000

#: INCRBY every bucket by its block size (ARGV[2..]); a new counter expires after two windows (ARGV[1]).
_LEASE = """
local counts = {}
for i, key in ipairs(KEYS) do
  local size = tonumber(ARGV[i + 1])
  local n = redis.call('INCRBY', key, size)
  if n == size then redis.call('EXPIRE', key, ARGV[1]) end
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


@dataclass(slots=True)
class _Block:
    """Units asked of Redis for one bucket; the requests that claim them before the reply get them in order."""

    size: int
    claims: list[asyncio.Future[bool | None]] = field(default_factory=list)
    """One per claiming request: True when its unit is within the limit, False past it, None when Redis failed."""


@dataclass(slots=True)
class _Lease:
    """What this process holds of one bucket in its current window, and how busy the bucket is."""

    window: int = -1
    units: int = 0
    """Counted in Redis within the limit, not yet spent here."""
    counted: int = 0
    """The bucket's count in Redis (at most its limit) at this process's last lease in the window."""
    leasing: int = 0
    """Units asked of Redis whose reply has not come."""
    block: _Block | None = None
    """The last block asked for, until its reply."""
    second: int = 0
    takes: int = 0
    """Requests in `second`."""
    rate: int = 0
    """Requests in the second before `second`."""


@dataclass(frozen=True)
class Pending:
    """A request's count that waits on Redis for the units of some of its buckets."""

    buckets: Sequence[Bucket]
    leases: Sequence[_Lease]
    claims: Sequence[asyncio.Future[bool | None] | None]
    """Per bucket, the unit claimed from a block on its way, or None when one was spent here."""
    reset_seconds: int
    window_seconds: int
    far_from_limit: bool
    """Every bucket waited on had a count in this window and many blocks left: the request may run meanwhile."""

    async def verdict(self) -> Quota | None:
        """The tightest bucket once every claimed unit is known; None when Redis could not be asked (fail open)."""
        allowed = []
        for claim in self.claims:
            ok = True if claim is None else await claim
            if ok is None:
                return None
            allowed.append(ok)
        return _tightest(self.buckets, self.leases, allowed, self.reset_seconds, self.window_seconds)


class RateLimiter:
    """Counts requests per bucket and window in Redis, through leases of units held by this process."""

    def __init__(self, redis: aioredis.Redis, prefix: str, window_seconds: int, timeout_seconds: float = 0.5) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window_seconds
        self._timeout = timeout_seconds
        self._script = redis.register_script(_LEASE)
        self._leases: dict[str, _Lease] = {}
        # The loop keeps only weak references to tasks; a lease in flight must outlive the request that asked.
        self._calls: set[asyncio.Task[None]] = set()

    def count(self, buckets: Sequence[Bucket], now: float | None = None) -> Quota | Pending:
        """Counts one request in every bucket: the verdict when this process's leases settle it, else what it
        waits for from Redis."""
        now = time.time() if now is None else now
        window = math.floor(now / self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        leases = [self._lease(b.key, window, now) for b in buckets]
        for bucket, lease in zip(buckets, leases, strict=True):
            if lease.units == 0 and lease.counted >= bucket.limit and lease.block is None:
                return Quota(bucket.limit, 0, reset, self._window, allowed=False)
        claims: list[asyncio.Future[bool | None] | None] = []
        asks: list[tuple[Bucket, _Lease, _Block]] = []
        far = True
        for bucket, lease in zip(buckets, leases, strict=True):
            if lease.units:
                lease.units -= 1
                claims.append(None)
                continue
            cap = _cap(bucket.limit)
            near = bucket.limit - lease.counted - lease.leasing < NEAR_BLOCKS * cap
            far = far and lease.counted > 0 and not near
            block = lease.block
            if block is None or len(block.claims) >= block.size:
                block = lease.block = _Block(1 if near else max(1, min(cap, max(lease.rate, lease.takes))))
                lease.leasing += block.size
                asks.append((bucket, lease, block))
            claim: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
            block.claims.append(claim)
            claims.append(claim)
        if asks:
            call = asyncio.get_running_loop().create_task(self._take(window, asks))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        elif all(claim is None for claim in claims):
            return _tightest(buckets, leases, [True] * len(buckets), reset, self._window)
        return Pending(buckets, leases, claims, reset, self._window, far)

    async def hit(self, buckets: Sequence[Bucket], now: float | None = None) -> Quota | None:
        """Counts one request in every bucket; None when Redis could not be asked (fail open)."""
        counted = self.count(buckets, now)
        return counted if isinstance(counted, Quota) else await counted.verdict()

    def _lease(self, key: str, window: int, now: float) -> _Lease:
        """The bucket's lease, moved to `window` (dropping what the last one left) and counting this request."""
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) >= _SEEN_MAX:
                self._leases.clear()
            lease = self._leases[key] = _Lease()
        if lease.window != window:
            lease.window, lease.units, lease.counted, lease.leasing, lease.block = window, 0, 0, 0, None
        second = math.floor(now)
        if second != lease.second:
            lease.rate = lease.takes if second == lease.second + 1 else 0
            lease.second, lease.takes = second, 0
        lease.takes += 1
        return lease

    async def _take(self, window: int, asks: list[tuple[Bucket, _Lease, _Block]]) -> None:
        """Asks Redis for one request's blocks and hands their units to the requests that claimed them."""
        counts: list[int] | None = None
        try:
            keys = [f"{self._prefix}:{bucket.key}:{window}" for bucket, _, _ in asks]
            async with asyncio.timeout(self._timeout):
                replies = await self._script(keys=keys, args=[2 * self._window, *(b.size for _, _, b in asks)])
            counts = [int(n) for n in replies]
        except (RedisError, OSError, TimeoutError):
            log.warning("rate limiter unavailable; letting the request through", exc_info=True)
        finally:
            for i, (bucket, lease, block) in enumerate(asks):
                _settle(bucket, lease, block, window, None if counts is None else counts[i])


def _settle(bucket: Bucket, lease: _Lease, block: _Block, window: int, count: int | None) -> None:
    """Hands a block's units out in claim order; what is left within the limit stays with the lease."""
    current = lease.window == window
    if current:
        lease.leasing -= block.size
        if lease.block is block:
            lease.block = None
    if count is None:
        for claim in block.claims:
            if not claim.done():
                claim.set_result(None)
        return
    usable = max(0, min(count, bucket.limit) - (count - block.size))
    spare = usable
    for i, claim in enumerate(block.claims):
        if not claim.done():  # a request cancelled while waiting leaves its unit to the lease
            claim.set_result(i < usable)
            if i < usable:
                spare -= 1
    if current:
        lease.counted = max(lease.counted, min(count, bucket.limit))
        lease.units += spare


def _cap(limit: int) -> int:
    """The largest block a bucket with this limit takes."""
    return max(1, min(MAX_BLOCK, int(limit * BLOCK_SHARE)))


def _remaining(bucket: Bucket, lease: _Lease) -> int:
    """The limit less the count at the last lease, plus the units still held here."""
    return max(0, min(bucket.limit, bucket.limit - lease.counted + lease.units))


def _tightest(
    buckets: Sequence[Bucket], leases: Sequence[_Lease], allowed: Sequence[bool], reset: int, window_seconds: int
) -> Quota:
    """The first refusing bucket, else the one with the fewest requests left."""
    quotas = [
        Quota(b.limit, _remaining(b, lease) if ok else 0, reset, window_seconds, ok)
        for b, lease, ok in zip(buckets, leases, allowed, strict=True)
    ]
    refused = [q for q in quotas if not q.allowed]
    if refused:
        return refused[0]
    return min(quotas, key=lambda q: q.remaining)
