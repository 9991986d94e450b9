"""Request ids, Server-Timing, CORS, rate limits with their headers, health, and an upstream that is down."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from edge.middleware import server_timing
from edge.ratelimit import Bucket, RateLimiter
from tests.conftest import free_port
from tests.edge.conftest import RunningEdge, edge_settings_for, serve_edge
from tests.services.conftest import Stack

DASHBOARD = "https://dashboard.example"


async def test_request_id_is_echoed_or_made_up(edge: RunningEdge) -> None:
    given = await edge.http.get("/v1/plans", headers={"x-request-id": "req-abc.123"})
    assert given.status_code == 200, given.text
    assert given.headers["x-request-id"] == "req-abc.123"
    made = await edge.http.get("/v1/plans")
    assert len(made.headers["x-request-id"]) == 32
    for unsafe in ("has spaces", "x" * 129, 'quote"d', "semi;colon"):
        made_up = (await edge.http.get("/v1/plans", headers={"x-request-id": unsafe})).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made_up), (unsafe, made_up)
    health = await edge.http.get("/healthz", headers={"x-request-id": "probe-1"})
    assert health.headers["x-request-id"] == "probe-1"


def _timings(value: str) -> dict[str, float]:
    """`edge;dur=1.2, upstream;dur=3.4` as {"edge": 1.2, "upstream": 3.4}."""
    out = {}
    for metric in value.split(","):
        name, _, duration = metric.strip().partition(";dur=")
        out[name] = float(duration)
    return out


async def test_server_timing_splits_the_edge_from_the_upstream_call(edge: RunningEdge) -> None:
    called = await edge.http.get("/v1/plans")
    assert called.status_code == 200, called.text
    timings = _timings(called.headers["server-timing"])
    assert set(timings) == {"edge", "upstream"}
    assert all(ms >= 0 for ms in timings.values())
    # A refused call is still an upstream call; a path no rule matches never leaves the edge.
    refused = await edge.http.get("/v1/tenants/00000000-0000-0000-0000-000000000000")
    assert refused.status_code == 401
    assert set(_timings(refused.headers["server-timing"])) == {"edge", "upstream"}
    unknown = await edge.http.get("/v1/nothing/here")
    assert unknown.status_code == 404
    assert set(_timings(unknown.headers["server-timing"])) == {"edge"}
    health = await edge.http.get("/healthz")
    assert set(_timings(health.headers["server-timing"])) == {"edge"}


def test_server_timing_reports_the_edge_share_in_milliseconds() -> None:
    assert server_timing(0.0042, 0.003) == "edge;dur=1.200, upstream;dur=3.000"
    assert server_timing(0.0005, None) == "edge;dur=0.500"
    # Clocks never make the edge's share negative.
    assert server_timing(0.001, 0.0011) == "edge;dur=0.000, upstream;dur=1.100"


async def test_cors_preflight_and_simple_requests(edge: RunningEdge) -> None:
    preflight = await edge.http.options(
        "/v1/tenants",
        headers={
            "origin": DASHBOARD,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-request-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "ratelimit-limit" not in preflight.headers  # preflights are not counted
    stranger = await edge.http.options(
        "/v1/tenants", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
    simple = await edge.http.get("/v1/plans", headers={"origin": DASHBOARD})
    assert simple.headers["access-control-allow-origin"] == DASHBOARD
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "ratelimit-remaining" in exposed
    assert "server-timing" in exposed


@pytest.fixture(scope="module")
async def limited(stack: Stack) -> AsyncIterator[RunningEdge]:
    """An edge with tiny limits; a day-long window so the test never straddles two windows."""
    settings = edge_settings_for(
        stack.settings,
        rate_limit_window_seconds=86_400,
        rate_limit_anonymous=3,
        rate_limit_user=5,
        rate_limit_api_key=2,
        rate_limit_address=50,
    )
    async with serve_edge(settings) as running:
        yield running


async def test_anonymous_callers_get_429_with_retry_after(limited: RunningEdge) -> None:
    remaining = []
    for _ in range(3):
        ok = await limited.http.get("/v1/plans")
        assert ok.status_code == 200, ok.text
        assert ok.headers["ratelimit-limit"] == "3"
        assert ok.headers["ratelimit-policy"] == "3;w=86400"
        assert 0 < int(ok.headers["ratelimit-reset"]) <= 86_400
        remaining.append(int(ok.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    refused = await limited.http.get("/v1/plans", headers={"x-request-id": "limited-1"})
    assert refused.status_code == 429
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["retry-after"]) == int(refused.headers["ratelimit-reset"]) > 0
    assert refused.headers["x-request-id"] == "limited-1"
    error = refused.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"][0]["reason"] == "RATE_LIMITED"
    assert error["details"][0]["metadata"]["retry_after_seconds"] == refused.headers["retry-after"]
    # A forged token earns no bucket of its own: it counts as the same anonymous address.
    forged = await limited.http.get("/v1/plans", headers={"authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig"})
    assert forged.status_code == 429


async def test_verified_users_and_api_keys_have_their_own_buckets(limited: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("limits")
    for expected in (4, 3):
        ok = await limited.http.get(f"/v1/{account.tenant}", headers=RunningEdge.bearer(account))
        assert ok.status_code == 200, ok.text
        assert ok.headers["ratelimit-limit"] == "5"
        assert ok.headers["ratelimit-remaining"] == str(expected)
    # An invented key is refused by the services (401), but still spends its own bucket, not the address's.
    key = f"ak_{uuid.uuid4().hex}"
    answers = [await limited.http.get("/v1/plans", headers={"x-api-key": key}) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[0].headers["ratelimit-limit"] == "2"


async def test_a_read_counted_while_it_runs_is_still_refused_past_the_limit(stack: Stack) -> None:
    settings = edge_settings_for(stack.settings, rate_limit_window_seconds=86_400, rate_limit_anonymous=20)
    async with serve_edge(settings) as running:
        first = await running.http.get("/v1/plans")
        assert first.headers["ratelimit-remaining"] == "19"
        # Another edge process spends the rest of the caller's budget; this one still believes in 19.
        other = aioredis.Redis.from_url(stack.settings.redis_url)
        try:
            elsewhere = RateLimiter(other, settings.rate_limit_key_prefix, settings.rate_limit_window_seconds)
            for _ in range(19):
                await elsewhere.hit([Bucket("anon:127.0.0.1", 20), Bucket("ip:127.0.0.1", settings.rate_limit_address)])
        finally:
            await other.aclose()
        refused = await running.http.get("/v1/plans", headers={"x-request-id": "late-refusal"})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["details"][0]["reason"] == "RATE_LIMITED"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["x-request-id"] == "late-refusal"
        # A write is never run before it is counted, and is refused the same way.
        write = await running.http.post("/v1/tenants", json={})
        assert write.status_code == 429


async def test_a_concurrent_burst_past_the_limit_gets_exactly_the_limit(stack: Stack) -> None:
    settings = edge_settings_for(
        stack.settings, rate_limit_window_seconds=86_400, rate_limit_anonymous=40, rate_limit_timeout_seconds=5
    )
    async with serve_edge(settings) as running:
        answers = await asyncio.gather(*(running.http.get("/v1/plans") for _ in range(60)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 40 + [429] * 20
        assert all(a.headers["ratelimit-limit"] == "40" for a in answers)
        # Once the burst is over this process holds no units, so the header is exact again.
        after = await running.http.get("/v1/plans")
        assert (after.status_code, after.headers["ratelimit-remaining"]) == (429, "0")


async def test_requests_pass_without_headers_when_redis_is_down(stack: Stack) -> None:
    settings = edge_settings_for(stack.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_anonymous=1)
    async with serve_edge(settings) as running:
        for _ in range(3):
            read = await running.http.get("/v1/plans")
            assert read.status_code == 200, read.text
            assert "ratelimit-limit" not in read.headers
        write = await running.http.post("/v1/tenants", json={})
        assert write.status_code not in (429, 500, 503), write.text


async def test_healthz_reports_edge_redis_and_upstreams(edge: RunningEdge) -> None:
    response = await edge.http.get("/healthz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "SERVING"
    assert body["redis"] == "SERVING"
    assert body["upstreams"]["auth"] == body["upstreams"]["tenant"] == "SERVING"
    assert set(body["upstreams"]) >= {"auth", "tenant", "chatbot", "conversation", "billing"}
    assert "ratelimit-limit" not in response.headers


async def test_a_required_upstream_down_fails_health_and_calls_are_503(stack: Stack) -> None:
    settings = edge_settings_for(
        stack.settings,
        service_addresses={"chatbot": f"127.0.0.1:{free_port()}"},
        health_required_services=("auth", "tenant", "chatbot"),
    )
    async with serve_edge(settings) as running:
        health = await running.http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "NOT_SERVING"
        assert health.json()["upstreams"]["chatbot"] == "UNAVAILABLE"
        call = await running.http.get("/v1/tenants/t1/chatbots/b1")
        assert call.status_code == 503
        error = call.json()["error"]
        assert error["status"] == "UNAVAILABLE"
        assert "127.0.0.1" not in error["message"]
