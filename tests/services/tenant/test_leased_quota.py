"""LeasedQuota against the real tenant service: quiet tenants keep one unit ready, busy ones reserve in blocks, and
the plan's usage comes back to exactly what was used."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from avatarchat.tenant.v1 import tenant_pb2
from services.runtime import errors
from services.runtime.quota import LeasedQuota, PlanQuota
from tests.services.conftest import Account, Stack

MESSAGES = tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH


def _lease(stack: Stack, **kwargs: float) -> LeasedQuota:
    return LeasedQuota(PlanQuota(stack.tenant, stack.operator, MESSAGES, 5.0), **kwargs)  # type: ignore[arg-type]


async def _used_when(stack: Stack, account: Account, settled: Callable[[int], bool], within: float = 3.0) -> int:
    """The plan's usage once `settled(usage)` holds (background refills settle), or whatever it is after `within` s."""
    used = -1
    for _ in range(int(within / 0.05)):
        used = (await stack.usage(account, MESSAGES)).used
        if settled(used):
            break
        await asyncio.sleep(0.05)
    return used


async def _used_reaches(stack: Stack, account: Account, expected: int, within: float = 3.0) -> int:
    """The plan's usage once it reaches `expected`, or whatever it is after `within` s."""
    return await _used_when(stack, account, lambda used: used == expected, within)


async def test_a_quiet_tenant_keeps_one_unit_ready_and_gets_give_backs_at_once(stack: Stack) -> None:
    account = await stack.new_tenant("lease-quiet")
    quota = _lease(stack, idle_seconds=0.6)
    before = (await stack.usage(account, MESSAGES)).used
    try:
        await quota.take(account.tenant_id)
        # The take emptied the lease, so the next unit is reserved in the background: one ahead, no more.
        assert await _used_reaches(stack, account, before + 2) == before + 2
        await quota.give_back(account.tenant_id)
        assert (await stack.usage(account, MESSAGES)).used == before + 1, "a quiet tenant's give-back goes to the plan"
        await quota.take(account.tenant_id)  # takes the unit held ready and reserves the next
        assert await _used_reaches(stack, account, before + 2) == before + 2
        # Idle, the unit held ready goes back: the plan shows exactly the one unit that counted.
        assert await _used_reaches(stack, account, before + 1) == before + 1
    finally:
        await quota.close()
    assert (await stack.usage(account, MESSAGES)).used == before + 1


async def test_closing_while_a_refill_is_on_its_way_returns_its_units(stack: Stack) -> None:
    account = await stack.new_tenant("lease-close-refill")
    quota = _lease(stack, idle_seconds=60)
    before = (await stack.usage(account, MESSAGES)).used
    await quota.take(account.tenant_id)
    await quota.close()  # the background refill the take started is awaited, then returned
    assert (await stack.usage(account, MESSAGES)).used == before + 1
    await asyncio.sleep(0.3)
    assert (await stack.usage(account, MESSAGES)).used == before + 1


async def test_a_busy_tenant_reserves_in_blocks_and_the_plan_comes_back_to_what_was_used(stack: Stack) -> None:
    account = await stack.new_tenant("lease-busy")
    quota = _lease(stack, idle_seconds=1.5)
    before = (await stack.usage(account, MESSAGES)).used
    try:
        # Ten takes in one second make the tenant busy; the pause opens the next second without letting the lease
        # go idle (a lease swept away would start again at one unit, as a quiet tenant's does).
        await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(10)))
        await asyncio.sleep(1.05)
        await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(31)))
        # A quiet tenant's lease is never more than one unit ahead of the takes.
        ahead = await _used_when(stack, account, lambda used: used - before > 42) - before - 41
        assert ahead > 1, f"{ahead} unit(s) ahead of the takes: no block was reserved"
        leased = (await stack.usage(account, MESSAGES)).used
        await quota.give_back(account.tenant_id)
        assert (await stack.usage(account, MESSAGES)).used == leased, "a busy tenant's give-back stays in the lease"
        # Idle, the lease goes back, the given-back unit with it: the plan shows the 40 takes that counted.
        assert await _used_reaches(stack, account, before + 40, within=5.0) - before == 40
    finally:
        await quota.close()
    assert (await stack.usage(account, MESSAGES)).used - before == 40


async def test_close_returns_what_leases_hold(stack: Stack) -> None:
    account = await stack.new_tenant("lease-close")
    quota = _lease(stack, idle_seconds=60)
    before = (await stack.usage(account, MESSAGES)).used
    await quota.take(account.tenant_id)
    await asyncio.sleep(1.0)
    await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(10)))
    await asyncio.sleep(1.0)
    await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(10)))
    await quota.close()
    assert (await stack.usage(account, MESSAGES)).used - before == 21


async def test_near_the_limit_units_go_one_by_one_and_the_limit_holds(stack: Stack) -> None:
    account = await stack.new_tenant("lease-limit")
    quota = _lease(stack)
    left = 40  # fewer than near_limit (4) leases of 20
    limit = await stack.use_up(account, MESSAGES, leave=left)
    try:
        for _ in range(5):
            await quota.take(account.tenant_id)
        await asyncio.sleep(1.0)
        await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(10)))
        assert (await stack.usage(account, MESSAGES)).used == limit - left + 15, "nothing reserved ahead"
        await asyncio.gather(*(quota.take(account.tenant_id) for _ in range(left - 15)))
        assert (await stack.usage(account, MESSAGES)).used == limit
        with pytest.raises(errors.ServiceError) as refused:
            await quota.take(account.tenant_id)
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await quota.close()
    assert (await stack.usage(account, MESSAGES)).used == limit
