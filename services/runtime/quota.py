"""Plan quota held by the tenant service, reserved and released by the services whose resources it counts."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import grpc

from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import errors, status
from services.runtime.clients import with_request_id
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


class PlanQuota:
    """One limit of a tenant's plan (chatbots, seats, documents, bytes, messages), called as this service."""

    def __init__(
        self,
        stub: tenant_pb2_grpc.TenantServiceAsyncStub,
        tokens: ServiceTokens,
        kind: tenant_pb2.LimitKind.ValueType,
        timeout: float | None = None,
    ) -> None:
        self._stub = stub
        self._tokens = tokens
        self._kind = kind
        self._timeout = timeout

    async def reserve(self, tenant_id: uuid.UUID, amount: int = 1) -> tenant_pb2.LimitUsage:
        """Takes `amount` of the limit and returns the usage after it; LIMIT_EXCEEDED (or any upstream error)
        propagates unchanged."""
        request = tenant_pb2.ReserveQuotaRequest(name=tenant_name(tenant_id), kind=self._kind, amount=amount)
        try:
            metadata = with_request_id(self._tokens.metadata(tenant_id))
            response = await self._stub.ReserveQuota(request, metadata=metadata, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
        return response.usage

    async def release(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Gives `amount` back; an upstream error propagates."""
        if amount < 1:
            return
        request = tenant_pb2.ReleaseQuotaRequest(name=tenant_name(tenant_id), kind=self._kind, amount=amount)
        try:
            await self._stub.ReleaseQuota(
                request, metadata=with_request_id(self._tokens.metadata(tenant_id)), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None

    async def release_or_log(self, tenant_id: uuid.UUID, amount: int = 1) -> None:
        """Gives `amount` back after the counted thing is already gone: a failure only over-counts, so it is logged."""
        try:
            await self.release(tenant_id, amount)
        except errors.ServiceError as exc:
            log.error(
                "quota not released",
                extra={
                    "tenant": str(tenant_id),
                    "kind": tenant_pb2.LimitKind.Name(self._kind),
                    "amount": amount,
                    "error": str(exc),
                },
            )


@dataclass(slots=True)
class _Lease:
    """What one tenant's lease holds in this process."""

    available: int = 0
    last_take: float = 0.0
    window_start: float = 0.0
    window_takes: int = 0
    rate: int = 0
    near_limit: bool = False
    refill: asyncio.Lock = field(default_factory=asyncio.Lock)


class LeasedQuota:
    """Hands out a limit one unit at a time from leases reserved in blocks: a busy tenant costs one reservation
    per block rather than one per unit.

    A lease is as large as the tenant's takes in the last second (at most `max_lease`), so a quiet tenant reserves
    one unit at a time, exactly as without leasing. Near the plan's limit (fewer than `near_limit` blocks left)
    leases are single units, so no process sits on units another one needs. A take that empties a lease refills it
    in the background, so the next take finds its unit ready instead of waiting for the tenant service (not near
    the limit, where every unit is reserved as it is taken). Units given back go to the lease; what a lease still
    holds returns to the plan after `idle_seconds` without takes, and on close. The plan's usage therefore runs at
    most one lease ahead of what was used, for a few seconds; a crash loses at most that lease.
    """

    def __init__(
        self, quota: PlanQuota, *, max_lease: int = 20, idle_seconds: float = 2.0, near_limit: int = 4
    ) -> None:
        self._quota = quota
        self._max_lease = max_lease
        self._idle = idle_seconds
        self._near_limit = near_limit
        self._leases: dict[uuid.UUID, _Lease] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._topping_up: set[asyncio.Task[None]] = set()
        self._closed = False

    async def take(self, tenant_id: uuid.UUID) -> None:
        """Takes one unit; LIMIT_EXCEEDED (or any upstream error) propagates as from PlanQuota.reserve."""
        lease = self._leases.get(tenant_id)
        if lease is None:
            lease = self._leases[tenant_id] = _Lease()
        now = time.monotonic()
        lease.last_take = now
        if now - lease.window_start >= 1.0:
            lease.rate, lease.window_start, lease.window_takes = lease.window_takes, now, 0
        lease.window_takes += 1
        while lease.available == 0:
            await self._refill_if_empty(tenant_id, lease)
        lease.available -= 1
        if lease.available == 0 and not lease.near_limit and not self._closed:
            task = asyncio.get_running_loop().create_task(self._top_up(tenant_id, lease))
            self._topping_up.add(task)
            task.add_done_callback(self._topping_up.discard)

    async def give_back(self, tenant_id: uuid.UUID) -> None:
        """Returns a unit taken for something that turned out not to count: to a busy tenant's lease, where it
        serves the next take, otherwise straight to the plan."""
        lease = self._leases.get(tenant_id)
        if lease is None or self._size(lease) == 1:
            await self._quota.release_or_log(tenant_id)
            return
        lease.available += 1
        self._sweep_soon()

    async def close(self) -> None:
        """Returns every unit still leased to the plan (after the refills in flight)."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._topping_up:
            await asyncio.gather(*self._topping_up, return_exceptions=True)
        for tenant_id, lease in list(self._leases.items()):
            await self._return(tenant_id, lease)
        self._leases.clear()

    def _size(self, lease: _Lease) -> int:
        """Units the next refill reserves: the takes of this second and the last, whichever is fewer; one near
        the limit."""
        if lease.near_limit:
            return 1
        return max(1, min(self._max_lease, lease.rate, lease.window_takes))

    async def _refill_if_empty(self, tenant_id: uuid.UUID, lease: _Lease) -> None:
        """Refills the lease unless another take's refill, awaited under the same lock, already did."""
        async with lease.refill:
            if lease.available == 0:
                await self._refill(tenant_id, lease)

    async def _refill(self, tenant_id: uuid.UUID, lease: _Lease) -> None:
        size = self._size(lease)
        try:
            usage = await self._quota.reserve(tenant_id, size)
        except errors.ServiceError:
            if size == 1:
                raise
            # A block may not fit where one unit still does.
            size, usage = 1, await self._quota.reserve(tenant_id, 1)
        lease.available += size
        lease.near_limit = usage.limit >= 0 and usage.limit - usage.used < self._near_limit * self._max_lease
        self._sweep_soon()

    async def _top_up(self, tenant_id: uuid.UUID, lease: _Lease) -> None:
        """Refills an emptied lease ahead of its next take; a failure is left for that take to meet and report."""
        try:
            await self._refill_if_empty(tenant_id, lease)
        except errors.ServiceError as exc:
            log.debug("lease not topped up: %s", exc, extra={"tenant": str(tenant_id)})
            return
        if self._leases.get(tenant_id) is not lease:
            # Swept away while the reservation was on its way: nothing would ever take these units.
            await self._return(tenant_id, lease)

    def _sweep_soon(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Returns idle leases to the plan until no lease holds anything."""
        while any(lease.available for lease in self._leases.values()):
            await asyncio.sleep(self._idle / 2)
            now = time.monotonic()
            for tenant_id, lease in list(self._leases.items()):
                if now - lease.last_take >= self._idle and not lease.refill.locked():
                    await self._return(tenant_id, lease)
                    if lease.available == 0 and time.monotonic() - lease.last_take >= self._idle:
                        self._leases.pop(tenant_id, None)

    async def _return(self, tenant_id: uuid.UUID, lease: _Lease) -> None:
        amount, lease.available = lease.available, 0
        if amount:
            await self._quota.release_or_log(tenant_id, amount)
