"""The rate limiter against a real Redis: fixed windows, the tightest bucket, failing open."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from edge.ratelimit import Bucket, RateLimiter
from tests.conftest import TEST_REDIS_URL, free_port


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's Redis."""
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


async def test_reserve_needs_a_count_with_headroom_in_the_window(redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, f"test-edge:{uuid.uuid4().hex}", window_seconds=60)
    now = (time.time() // 60 + 1) * 60 + 1
    buckets = [Bucket("a", 10), Bucket("b", 100)]
    assert not limiter.reserve(buckets, now=now)  # nothing counted yet in this window
    await limiter.hit(buckets, now=now)  # 9 and 99 left
    reserved = [limiter.reserve(buckets, now=now) for _ in range(9)]
    # Each reservation spends the estimate; a tenth of the limit (1 of 10) must stay after it.
    assert reserved == [True] * 8 + [False]
    assert not limiter.reserve(buckets, now=now + 60)  # a new window starts unknown
    await limiter.hit([Bucket("a", 10)], now=now)  # Redis has counted 2 of `a`: the estimate was too low
    assert limiter.reserve(buckets, now=now)


async def test_limiter_counts_fixed_windows_and_reports_the_tightest_bucket(redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, f"test-edge:{uuid.uuid4().hex}", window_seconds=60)
    start = (time.time() // 60 + 1) * 60  # the beginning of a window
    buckets = [Bucket("a", 2), Bucket("b", 10)]
    first = await limiter.hit(buckets, now=start + 15)
    assert first is not None
    assert (first.limit, first.remaining, first.reset_seconds, first.allowed) == (2, 1, 45, True)
    await limiter.hit(buckets, now=start + 20)
    third = await limiter.hit(buckets, now=start + 59.5)
    assert third is not None
    assert (third.remaining, third.reset_seconds, third.allowed) == (0, 1, False)
    assert third.headers()["retry-after"] == "1"
    fresh = await limiter.hit(buckets, now=start + 60)
    assert fresh is not None
    assert (fresh.remaining, fresh.allowed) == (1, True)


async def test_rate_limiter_fails_open_without_redis() -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    try:
        assert await RateLimiter(dead, "x", 60).hit([Bucket("a", 1)]) is None
    finally:
        await dead.aclose()


async def test_rate_limiter_fails_open_when_redis_never_answers() -> None:
    # A listener that accepts and stays silent, as a wedged Redis does: the limiter's own deadline lets the call go.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        limiter = RateLimiter(client, "x", 60, timeout_seconds=0.2)
        assert await limiter.hit([Bucket("a", 1)]) is None
        assert await limiter.hit([Bucket("a", 1)]) is None  # the interrupted connection was not reused half-read
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
