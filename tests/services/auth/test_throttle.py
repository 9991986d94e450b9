"""Login throttling per account (through the server) and per client address (the throttle on real Redis)."""

from __future__ import annotations

import uuid

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_status import rpc_status

from avatarchat.auth.v1 import auth_pb2
from services.auth.throttle import LoginThrottle, client_address
from services.runtime import errors, status
from tests.errors_assert import expect_error
from tests.services.auth.conftest import fresh_address, from_address
from tests.services.conftest import PASSWORD, Stack

ACCOUNT_LIMIT = 5  # AuthSettings.auth_login_account_limit


def retry_after(exc: grpc.aio.AioRpcError) -> int:
    """The retry_after_seconds of a RATE_LIMITED error's ErrorInfo."""
    rich = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert rich is not None
    info = status.error_info(rich)
    assert info is not None
    return int(info.metadata["retry_after_seconds"])


async def test_repeated_bad_passwords_lock_the_account(stack: Stack) -> None:
    account = await stack.new_tenant()
    wrong = auth_pb2.LoginRequest(tenant_slug=account.slug, email=account.email, password="not the password")
    for _ in range(ACCOUNT_LIMIT):
        # A new address each time: the account limit holds however the attacker spreads out.
        await expect_error(
            stack.auth.Login(wrong, metadata=from_address(fresh_address())), grpc.StatusCode.UNAUTHENTICATED
        )
    exc = await expect_error(
        stack.auth.Login(wrong, metadata=from_address(fresh_address())),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    assert 0 < retry_after(exc) <= 900
    # Even the right password waits for the window to pass.
    right = auth_pb2.LoginRequest(tenant_slug=account.slug, email=account.email, password=PASSWORD)
    await expect_error(
        stack.auth.Login(right, metadata=from_address(fresh_address())),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    # Other accounts are not affected.
    other = await stack.new_tenant()
    await stack.login(other.slug, other.email)


async def test_a_successful_login_resets_the_account_count(stack: Stack) -> None:
    account = await stack.new_tenant()
    address = fresh_address()
    wrong = auth_pb2.LoginRequest(tenant_slug=account.slug, email=account.email, password="not the password")
    right = auth_pb2.LoginRequest(tenant_slug=account.slug, email=account.email, password=PASSWORD)
    for _ in range(2):
        for _ in range(ACCOUNT_LIMIT - 1):
            await expect_error(stack.auth.Login(wrong, metadata=from_address(address)), grpc.StatusCode.UNAUTHENTICATED)
        await stack.auth.Login(right, metadata=from_address(address))


async def test_unknown_accounts_are_throttled_too(stack: Stack) -> None:
    request = auth_pb2.LoginRequest(
        tenant_slug="no-such-tenant-y2", email=f"{uuid.uuid4().hex}@x.example", password="p"
    )
    for _ in range(ACCOUNT_LIMIT):
        await expect_error(
            stack.auth.Login(request, metadata=from_address(fresh_address())), grpc.StatusCode.UNAUTHENTICATED
        )
    await expect_error(
        stack.auth.Login(request, metadata=from_address(fresh_address())),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )


async def test_address_limit_spans_accounts(redis_client: aioredis.Redis) -> None:
    throttle = LoginThrottle(redis_client, account_limit=100, address_limit=3, window_seconds=60)
    address = fresh_address()
    for i in range(3):
        await throttle.attempt("some-tenant", f"user{i}@example.com", address)
    with pytest.raises(errors.RateLimited) as caught:
        await throttle.attempt("some-tenant", "fresh@example.com", address)
    assert 0 < int(caught.value.metadata["retry_after_seconds"]) <= 60
    # Another address is unaffected.
    await throttle.attempt("some-tenant", "fresh@example.com", fresh_address())


async def test_successful_logins_do_not_count_against_the_address(redis_client: aioredis.Redis) -> None:
    throttle = LoginThrottle(redis_client, account_limit=100, address_limit=2, window_seconds=60)
    address = fresh_address()
    for i in range(5):
        await throttle.attempt("office", f"user{i}@example.com", address)
        await throttle.succeeded("office", f"user{i}@example.com", address)


@pytest.mark.parametrize(
    ("forwarded", "peer", "expected"),
    [
        (None, "ipv4:10.1.2.3:5555", "10.1.2.3"),
        (None, "ipv6:[::1]:5555", "::1"),
        ("203.0.113.9", "ipv4:127.0.0.1:1", "203.0.113.9"),
        ("1.1.1.1, 203.0.113.9", "ipv4:127.0.0.1:1", "203.0.113.9"),
        ("not-an-ip", "ipv4:10.0.0.1:2", "10.0.0.1"),
        ("2001:DB8::1", "ipv4:127.0.0.1:1", "2001:db8::1"),
    ],
)
def test_client_address(forwarded: str | None, peer: str, expected: str) -> None:
    assert client_address(forwarded, peer) == expected
