"""The rate limiter against a real Redis: leased blocks, exact limits and headers, several processes, failing open;
and the address ceiling through a served edge."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from edge.ratelimit import MAX_BLOCK, NEAR_BLOCKS, Bucket, Pending, Quota, RateLimiter
from tests.conftest import TEST_REDIS_URL, free_port
from tests.edge.conftest import RunningEdge, edge_settings_for, serve_edge
from tests.services.conftest import Stack


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's Redis."""
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def own_redis() -> AsyncIterator[aioredis.Redis]:
    """A Redis server of this test's own, so its command counts are this test's alone."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        for _ in range(100):
            try:
                await client.ping()
                break
            except (RedisError, OSError):
                await asyncio.sleep(0.05)
        yield client
    finally:
        await client.aclose()
        server.terminate()
        await server.wait()


def _window_start(window_seconds: int) -> float:
    """The start of the next window, so a test's fixed `now` never straddles two."""
    return (time.time() // window_seconds + 1) * window_seconds


def _allowed(verdicts: list[Quota | None]) -> int:
    assert all(v is not None for v in verdicts)
    return sum(1 for v in verdicts if v is not None and v.allowed)


async def test_a_concurrent_burst_over_the_limit_gets_exactly_the_limit(redis: aioredis.Redis) -> None:
    prefix = f"test-edge:{uuid.uuid4().hex}"
    # Near the limit every request asks for its own unit at once: a loaded machine needs more than the default deadline.
    limiter = RateLimiter(redis, prefix, window_seconds=60, timeout_seconds=5)
    now = _window_start(60) + 1
    buckets = [Bucket("caller", 100), Bucket("address", 10_000)]
    burst = await asyncio.gather(*(limiter.hit(buckets, now=now) for _ in range(150)))
    later = [await limiter.hit(buckets, now=now) for _ in range(10)]
    assert _allowed([*burst, *later]) == 100
    assert all(v is not None and not v.allowed and v.remaining == 0 for v in later)
    # Requests that came while a block was on its way took its units: the burst leased one unit per request,
    # and a bucket known to be spent refuses without asking Redis again.
    assert int(await redis.get(f"{prefix}:caller:{int(now // 60)}") or 0) == 150


async def test_two_processes_never_allow_more_than_the_limit_together() -> None:
    prefix = f"test-edge:{uuid.uuid4().hex}"
    clients = [aioredis.Redis.from_url(TEST_REDIS_URL) for _ in range(2)]
    try:
        first, second = (RateLimiter(c, prefix, window_seconds=60, timeout_seconds=5) for c in clients)
        now = _window_start(60) + 1
        buckets = [Bucket("caller", 200)]

        async def both_at_once(each: int) -> list[Quota | None]:
            calls = (limiter.hit(buckets, now=now) for _ in range(each) for limiter in (first, second))
            return list(await asyncio.gather(*calls))

        # Both busy at once, then taking turns, then a burst past the limit on both.
        verdicts = await both_at_once(40)
        for _ in range(60):
            verdicts += [await first.hit(buckets, now=now), await second.hit(buckets, now=now)]
        verdicts += await both_at_once(100)
        allowed = _allowed(verdicts)
        # Units a process still holds are lost to the other one: stricter by at most one block each, never looser.
        assert 200 - 2 * MAX_BLOCK <= allowed <= 200
    finally:
        for client in clients:
            await client.aclose()


async def test_a_busy_key_costs_fewer_redis_calls_than_requests(own_redis: aioredis.Redis) -> None:
    limiter = RateLimiter(own_redis, "busy", window_seconds=60)
    now = _window_start(60) + 1
    buckets = [Bucket("caller", 100_000), Bucket("address", 100_000)]
    verdicts = [await limiter.hit(buckets, now=now + i / 200) for i in range(300)]
    assert _allowed(verdicts) == 300
    stats = await own_redis.info("commandstats")
    calls = sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("eval", "evalsha"))
    # Blocks double from one unit up to MAX_BLOCK (1, 2, 4, 8, 16), then MAX_BLOCK per call.
    assert 0 < calls <= 5 + 300 // MAX_BLOCK
    # With one process the header is exact however many units it holds.
    assert [v.remaining for v in verdicts if v is not None] == [100_000 - i for i in range(1, 301)]


async def test_remaining_is_exact_and_blocks_are_single_units_near_the_limit(redis: aioredis.Redis) -> None:
    prefix = f"test-edge:{uuid.uuid4().hex}"
    limiter = RateLimiter(redis, prefix, window_seconds=60)
    now = _window_start(60) + 1
    key = f"{prefix}:caller:{int(now // 60)}"
    limit, block = 100, 10  # a block is at most a tenth of the limit
    counted = []
    for i in range(1, limit + 1):
        quota = await limiter.hit([Bucket("caller", limit)], now=now)
        assert quota is not None
        assert (quota.allowed, quota.remaining) == (True, limit - i)
        counted.append(int(await redis.get(key) or 0))
    assert any(c > i for i, c in enumerate(counted, start=1))  # blocks were leased ahead of use
    # The last block of several units was taken with at least NEAR_BLOCKS blocks left; after it, one unit per request.
    near = limit - NEAR_BLOCKS * block + block
    assert counted[near - 1 :] == list(range(near, limit + 1))
    refused = await limiter.hit([Bucket("caller", limit)], now=now + 30)
    assert refused is not None
    assert (refused.allowed, refused.remaining, refused.reset_seconds) == (False, 0, 29)
    assert int(await redis.get(key) or 0) == limit  # refused here, without counting


async def test_a_request_runs_while_counted_only_far_from_the_limit(redis: aioredis.Redis) -> None:
    prefix = f"test-edge:{uuid.uuid4().hex}"
    limiter = RateLimiter(redis, prefix, window_seconds=60)
    now = _window_start(60) + 1
    buckets = [Bucket("a", 100), Bucket("b", 1_000)]
    first = limiter.count(buckets, now=now)
    assert isinstance(first, Pending)
    assert not first.far_from_limit  # nothing counted yet in this window
    assert await first.verdict() is not None
    second = limiter.count(buckets, now=now + 1)
    assert isinstance(second, Pending)
    assert second.far_from_limit
    await second.verdict()
    # Another process spends most of `a`; this one learns it from the next count, and waits from then on.
    elsewhere = RateLimiter(redis, prefix, window_seconds=60)
    for _ in range(70):
        await elsewhere.hit([Bucket("a", 100)], now=now + 2)
    stale = limiter.count(buckets, now=now + 3)
    assert isinstance(stale, Pending)
    assert stale.far_from_limit
    await stale.verdict()
    near = limiter.count(buckets, now=now + 4)
    assert isinstance(near, Pending)
    assert not near.far_from_limit
    await near.verdict()
    fresh = limiter.count(buckets, now=now + 60)
    assert isinstance(fresh, Pending)
    assert not fresh.far_from_limit  # a new window starts unknown
    await fresh.verdict()


async def test_limiter_counts_fixed_windows_and_reports_the_tightest_bucket(redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, f"test-edge:{uuid.uuid4().hex}", window_seconds=60)
    start = _window_start(60)
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
        limiter = RateLimiter(dead, "x", 60)
        assert await limiter.hit([Bucket("a", 1)]) is None
        assert await limiter.hit([Bucket("a", 1)]) is None  # a failed lease leaves nothing behind to spend
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


async def test_callers_with_their_own_buckets_share_their_address_ceiling(stack: Stack) -> None:
    """Distinct API keys and a verified user from one address get 429 at the address ceiling; other addresses do not."""
    settings = edge_settings_for(
        stack.settings,
        rate_limit_window_seconds=86_400,
        rate_limit_address=4,
        rate_limit_api_key=100,
        rate_limit_user=100,
    )
    # The test client is the trusted proxy (forwarded_allow_ips), so X-Forwarded-For names the client address.
    crowded, elsewhere = {"x-forwarded-for": "203.0.113.7"}, {"x-forwarded-for": "203.0.113.8"}
    account = await stack.new_tenant("address-ceiling")
    async with serve_edge(settings) as running:
        # Invented keys are refused by the services (401), but each is a bucket of its own far from its limit.
        answers = [
            await running.http.get("/v1/plans", headers={**crowded, "x-api-key": f"ak_{uuid.uuid4().hex}"})
            for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [401] * 4
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["3", "2", "1", "0"]
        assert {a.headers["ratelimit-limit"] for a in answers} == {"4"}
        another_key = await running.http.get("/v1/plans", headers={**crowded, "x-api-key": f"ak_{uuid.uuid4().hex}"})
        user = await running.http.get(f"/v1/{account.tenant}", headers={**crowded, **RunningEdge.bearer(account)})
        for refused in (another_key, user):
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["details"][0]["reason"] == "RATE_LIMITED"
            assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == ("4", "0")
            assert int(refused.headers["retry-after"]) == int(refused.headers["ratelimit-reset"]) > 0
        same_user = await running.http.get(
            f"/v1/{account.tenant}", headers={**elsewhere, **RunningEdge.bearer(account)}
        )
        assert same_user.status_code == 200, same_user.text
        assert same_user.headers["ratelimit-limit"] == "4"
        assert same_user.headers["ratelimit-remaining"] == "3"
