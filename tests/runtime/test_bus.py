"""RabbitMQ bus and transactional outbox against the machine's real broker and the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from services.runtime import outbox
from services.runtime.bus import Bus, ConsumerSpec, PermanentFailure
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings


@pytest.fixture
async def bus(settings: RuntimeSettings) -> AsyncIterator[Bus]:
    """A connected bus, closed after the test."""
    connected = await Bus.connect(settings.amqp_url)
    yield connected
    await connected.close()


def _names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"test.{suffix}.events", f"test.{suffix}.work"


async def _collect(bus: Bus, spec: ConsumerSpec, fail_times: int = 0, permanent: bool = False) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    failures = {"left": fail_times}

    async def handler(body: Mapping[str, Any], routing_key: str) -> None:
        if permanent:
            raise PermanentFailure("cannot ever work")
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("transient")
        seen.append({**body, "_key": routing_key})

    await bus.consume(spec, handler)
    return seen


@asynccontextmanager
async def _relaying(db: Database, bus: Bus, schema: str, **options: Any) -> AsyncIterator[outbox.OutboxRelay]:
    """A relay whose slow poll never comes within a test (only wake-ups move it), listening, until the block ends."""
    relay = outbox.OutboxRelay(db, bus, schema, poll_seconds=60, **options)
    await relay.start()
    try:
        await asyncio.sleep(0.2)
        yield relay
    finally:
        await relay.stop()


async def _eventually(predicate: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def _unsent(db: Database, schema: str) -> int:
    """Outbox rows not yet marked sent."""
    async with db.platform_tx() as conn:
        unsent: int = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_time IS NULL")
        return unsent


async def test_publish_consume_and_retry_until_success(bus: Bus) -> None:
    exchange, queue = _names()
    spec = ConsumerSpec(queue, exchange, ("thing.*",), max_attempts=4, backoff_seconds=(0.05,))
    seen = await _collect(bus, spec, fail_times=2)
    await bus.publish(exchange, "thing.made", {"n": 1})
    await _eventually(lambda: len(seen) == 1)
    assert seen[0] == {"n": 1, "_key": "thing.made"}
    assert await bus.dead_letters(queue) == []


async def test_poison_message_ends_in_the_dead_letter_queue_with_its_reason(bus: Bus) -> None:
    exchange, queue = _names()
    spec = ConsumerSpec(queue, exchange, ("thing.*",), max_attempts=3, backoff_seconds=(0.05,))
    seen = await _collect(bus, spec, fail_times=100)
    await bus.publish(exchange, "thing.bad", {"n": 2})
    letters: list[Any] = []

    async def dead() -> bool:
        letters[:] = await bus.dead_letters(queue)
        return bool(letters)

    for _ in range(200):
        if await dead():
            break
        await asyncio.sleep(0.05)
    assert seen == []
    assert len(letters) == 1
    assert letters[0].attempts == 3
    assert letters[0].reason == "RuntimeError: transient"
    assert letters[0].routing_key == "thing.bad"
    assert letters[0].body == {"n": 2}


async def test_permanent_failure_skips_retries(bus: Bus) -> None:
    exchange, queue = _names()
    spec = ConsumerSpec(queue, exchange, ("#",), max_attempts=5, backoff_seconds=(5.0,))
    await _collect(bus, spec, permanent=True)
    await bus.publish(exchange, "x", {"n": 3})
    for _ in range(100):
        letters = await bus.dead_letters(queue)
        if letters:
            break
        await asyncio.sleep(0.05)
    assert letters[0].attempts == 1
    assert "cannot ever work" in letters[0].reason


@pytest.fixture
async def outbox_db(settings: RuntimeSettings, database_url: str) -> AsyncIterator[tuple[Database, str]]:
    """A throw-away schema with an outbox table and its own service role."""
    service = f"bus{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE ROLE avatarchat_{service} NOLOGIN; CREATE SCHEMA {service};")
        await conn.execute(f"GRANT USAGE ON SCHEMA {service} TO avatarchat_{service}")
        await conn.execute(outbox.OUTBOX_DDL.format(schema=service, role=f"avatarchat_{service}"))
    finally:
        await conn.close()
    db = await Database.connect(settings, service)
    yield db, service
    await db.close()


async def test_outbox_survives_a_broker_outage_and_delivers_once_back(
    bus: Bus, settings: RuntimeSettings, outbox_db: tuple[Database, str]
) -> None:
    db, schema = outbox_db
    exchange, queue = _names()
    seen = await _collect(bus, ConsumerSpec(queue, exchange, ("doc.*",)))
    tenant = uuid.uuid4()
    async with db.tenant_tx(tenant) as conn:
        await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": 1}, tenant_id=tenant)

    async def change_that_rolls_back() -> None:
        async with db.tenant_tx(tenant) as conn:
            await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": 2})
            raise RuntimeError("rollback")

    # A rolled-back change leaves no event behind.
    with pytest.raises(RuntimeError):
        await change_that_rolls_back()
    # The broker is "down" for the relay: publishing fails and the row stays pending.
    dead_bus = await Bus.connect(settings.amqp_url)
    await dead_bus.close()
    with pytest.raises(Exception):  # noqa: B017, PT011 - any publish failure is an outage here
        await outbox.OutboxRelay(db, dead_bus, schema).relay_once()
    relay = outbox.OutboxRelay(db, bus, schema, poll_seconds=0.1)
    await relay.start()
    try:
        await _eventually(lambda: len(seen) == 1)
        await asyncio.sleep(0.3)
        assert [s["doc"] for s in seen] == [1]
        assert uuid.UUID(seen[0]["event_id"])
    finally:
        await relay.stop()
    assert await _unsent(db, schema) == 0


async def test_notify_wakes_the_relay_which_publishes_a_batch_in_order_and_marks_it_sent(
    bus: Bus, outbox_db: tuple[Database, str]
) -> None:
    db, schema = outbox_db
    exchange, queue = _names()
    seen = await _collect(bus, ConsumerSpec(queue, exchange, ("doc.*",)))
    # The slow poll never comes within the test: only the NOTIFY sent with the rows can wake the relay.
    async with _relaying(db, bus, schema):
        tenant = uuid.uuid4()
        async with db.tenant_tx(tenant) as conn:
            for doc in range(1, 6):
                await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": doc})
        await _eventually(lambda: len(seen) == 5)
        assert [s["doc"] for s in seen] == [1, 2, 3, 4, 5]
    assert await _unsent(db, schema) == 0


async def test_an_event_recorded_without_notify_goes_out_when_its_writer_wakes_the_relay(
    bus: Bus, outbox_db: tuple[Database, str]
) -> None:
    db, schema = outbox_db
    exchange, queue = _names()
    seen = await _collect(bus, ConsumerSpec(queue, exchange, ("doc.*",)))
    async with _relaying(db, bus, schema) as relay:
        event_id = uuid.uuid4()
        ctes = outbox.event_ctes(
            schema,
            when="one",
            event_id="$1",
            tenant_id="NULL",
            exchange="$2",
            routing_key="'doc.added'",
            payload="$3::jsonb",
            notify=False,
        )
        async with db.tenant_tx(uuid.uuid4()) as conn:
            woken = await conn.fetchval(
                f"WITH one AS (SELECT 1), {ctes} SELECT count(*) FROM wake",
                event_id,
                exchange,
                outbox.payload_of({"doc": 1}, event_id),
            )
        assert woken == 1  # the count the writer decides to wake by
        await asyncio.sleep(1.0)
        assert seen == []  # no NOTIFY went out, and the poll is a minute away
        relay.wake()
        await _eventually(lambda: len(seen) == 1)
        assert seen[0]["doc"] == 1


async def test_an_event_committed_while_a_batch_is_out_is_not_left_for_the_poll(
    bus: Bus, outbox_db: tuple[Database, str]
) -> None:
    db, schema = outbox_db
    exchange, queue = _names()
    seen = await _collect(bus, ConsumerSpec(queue, exchange, ("doc.*",)))
    async with _relaying(db, bus, schema, batch=1000):
        async with db.tenant_tx(uuid.uuid4()) as conn:
            for doc in range(300):
                await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": doc})
        # The first arrival means the relay has read its batch of 300 and is publishing it, a confirm at a time.
        await _eventually(lambda: len(seen) > 0)
        async with db.tenant_tx(uuid.uuid4()) as conn:
            await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": "late"})
        assert len(seen) < 300  # still publishing the batch when the late one committed and notified
        await _eventually(lambda: len(seen) == 301)
        assert seen[-1]["doc"] == "late"


async def test_events_of_a_busy_moment_go_out_in_one_batch(bus: Bus, outbox_db: tuple[Database, str]) -> None:
    db, schema = outbox_db
    exchange, queue = _names()
    seen = await _collect(bus, ConsumerSpec(queue, exchange, ("doc.*",)))
    async with _relaying(db, bus, schema, settle_seconds=0.5):
        for doc in range(1, 5):  # four changes, each committed on its own
            async with db.tenant_tx(uuid.uuid4()) as conn:
                await outbox.add(conn, schema, exchange=exchange, routing_key="doc.added", payload={"doc": doc})
        await _eventually(lambda: len(seen) == 4)
        assert [s["doc"] for s in seen] == [1, 2, 3, 4]
    async with db.platform_tx() as conn:
        # now() is the transaction's start: one relay transaction marked them all.
        sent = await conn.fetchval(f"SELECT count(DISTINCT sent_time) FROM {schema}.outbox")
    assert sent == 1
