"""Transactional outbox: events are written with the change that caused them and relayed to RabbitMQ.

`add()` inserts into the service's own `<schema>.outbox` table inside the caller's transaction, so an
event exists exactly when its change committed. The relay publishes pending rows with publisher confirms
and marks them sent; a broker outage only delays delivery (at-least-once: consumers must be idempotent).
Each service's migration creates its table from OUTBOX_DDL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from services.runtime.bus import Bus
from services.runtime.db import Connection, Database

log = logging.getLogger(__name__)

#: How long stopping waits for a batch in flight to be confirmed and marked sent.
_STOP_WAIT_SECONDS = 10.0

#: The table each service's migration creates (with its schema and role substituted).
OUTBOX_DDL = """
CREATE TABLE {schema}.outbox (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL UNIQUE,
  tenant_id   uuid,
  exchange    text NOT NULL,
  routing_key text NOT NULL,
  payload     jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  sent_time   timestamptz
);
CREATE INDEX outbox_pending ON {schema}.outbox (id) WHERE sent_time IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.outbox TO {role};
GRANT USAGE ON SEQUENCE {schema}.outbox_id_seq TO {role};
"""


def event_ctes(
    schema: str,
    *,
    when: str,
    event_id: str,
    tenant_id: str,
    exchange: str,
    routing_key: str,
    payload: str,
    notify: bool = True,
) -> str:
    """Two CTEs, `event` and `wake`, for a statement that records an event (and wakes the relay) with its change.

    The event is recorded once per row of the CTE `when` (so not at all when it returned none); the other
    arguments are SQL expressions, usually parameters. `payload` must hold the event id (see `payload_of`), and
    the statement must read `wake` (e.g. `(SELECT count(*) FROM wake)`), or PostgreSQL skips the NOTIFY; it counts
    the events recorded.

    `notify=False` sends no NOTIFY: the writer then wakes its own process's relay (`OutboxRelay.wake`) once the
    statement committed. For statements on a hot path: a notifying transaction takes a cluster-wide lock at commit
    and holds it through its WAL flush, so every other notifying commit waits in line behind it.
    """
    wake = f"SELECT pg_notify('{schema}_outbox', '') FROM event" if notify else "SELECT 1 FROM event"  # noqa: S608
    return (
        f"event AS (INSERT INTO {schema}.outbox (event_id, tenant_id, exchange, routing_key, payload)"  # noqa: S608
        f" SELECT {event_id}, {tenant_id}, {exchange}, {routing_key}, {payload} FROM {when} RETURNING id),"
        f" wake AS ({wake})"
    )


def payload_of(payload: Mapping[str, Any], event_id: uuid.UUID) -> dict[str, Any]:
    """The stored payload of an event: the given one and the event id consumers deduplicate by."""
    return {**payload, "event_id": str(event_id)}


async def add(
    conn: Connection,
    schema: str,
    *,
    exchange: str,
    routing_key: str,
    payload: Mapping[str, Any],
    tenant_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Records an event in the current transaction; returns its id (also the message id on the broker)."""
    event_id = uuid.uuid4()
    # The row and the relay's wake-up in one round trip (NOTIFY is delivered at commit, like the row).
    ctes = event_ctes(schema, when="one", event_id="$1", tenant_id="$2", exchange="$3", routing_key="$4", payload="$5")
    await conn.execute(
        f"WITH one AS (SELECT 1), {ctes} SELECT count(*) FROM wake",  # noqa: S608 - schema is ours
        event_id,
        tenant_id,
        exchange,
        routing_key,
        payload_of(payload, event_id),
    )
    return event_id


class OutboxRelay:
    """Publishes a service's pending outbox rows in order, woken by NOTIFY, by its own process's writers and by a
    slow poll.

    A wake-up waits `settle_seconds` before reading the outbox, so the events of a busy moment go out in one
    batch (one transaction) instead of one transaction each: events are for other services, and a few
    milliseconds matter less to them than the sending service's CPU.
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        schema: str,
        *,
        poll_seconds: float = 2.0,
        batch: int = 100,
        settle_seconds: float = 0.02,
    ) -> None:
        self._db = db
        self._bus = bus
        self._schema = schema
        self._poll = poll_seconds
        self._batch = batch
        self._settle = settle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._draining: asyncio.Future[None] | None = None
        self._listener: Any = None

    async def start(self) -> None:
        """Starts relaying in the background."""
        pool = await self._db.pool_for(None)
        self._listener = await pool.acquire()
        await self._listener.add_listener(f"{self._schema}_outbox", self._notified)
        self._task = asyncio.create_task(self._run(), name=f"{self._schema}-outbox-relay")

    async def relay_once(self) -> int:
        """Publishes one batch of pending events; returns how many were sent."""
        async with self._db.platform_tx() as conn:
            rows = await conn.fetch(
                f"SELECT id, event_id, exchange, routing_key, payload FROM {self._schema}.outbox"  # noqa: S608
                " WHERE sent_time IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            sent: list[int] = []
            try:
                for row in rows:
                    await self._bus.publish(
                        row["exchange"], row["routing_key"], row["payload"], message_id=str(row["event_id"])
                    )
                    sent.append(row["id"])
            finally:
                # One update for the batch; when the broker fails part-way, what it confirmed is still marked.
                if sent:
                    await conn.execute(
                        f"UPDATE {self._schema}.outbox SET sent_time = now() WHERE id = ANY($1::bigint[])",  # noqa: S608
                        sent,
                    )
        return len(rows)

    async def _drain(self) -> None:
        try:
            while await self.relay_once() == self._batch:
                pass
        except Exception:
            log.warning("outbox relay failed; will retry", exc_info=True)

    async def _run(self) -> None:
        while True:
            # Cleared before reading: a wake-up for a row committed while a batch is out must bring another read,
            # not be cleared with the batch's (the row would wait for the poll).
            self._wake.clear()
            # Shielded: stopping must not cut a batch off between the broker's confirms and marking it sent,
            # or the next start would publish it again.
            self._draining = asyncio.ensure_future(self._drain())
            await asyncio.shield(self._draining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            if self._wake.is_set():
                await asyncio.sleep(self._settle)

    async def stop(self) -> None:
        """Stops relaying (pending rows stay for the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._draining is not None:
            # A batch in flight is finished and marked; a broker that hangs is given up on after a while (its
            # rows are then sent again by the next start).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._draining, _STOP_WAIT_SECONDS)
        if self._listener is not None:
            await self._listener.remove_listener(f"{self._schema}_outbox", self._notified)
            pool = await self._db.pool_for(None)
            await pool.release(self._listener)
            self._listener = None

    def wake(self) -> None:
        """Reads the outbox soon: called by a writer of this process after committing events without NOTIFY."""
        self._wake.set()

    def _notified(self, *_: object) -> None:
        """asyncpg's listener callback for the NOTIFY of another writer: a wake-up like this process's own."""
        self.wake()
