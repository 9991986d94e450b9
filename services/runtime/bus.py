"""RabbitMQ messaging: durable topic exchanges, confirmed persistent publishes, consumers with retry and DLQ.

Every consumer acks manually. A handler that raises is retried through a per-queue retry queue whose
messages expire back onto the main queue after a back-off, with the attempt count in a header; after the
last attempt the message goes to `<queue>.dlq` with the failure reason, so a poison message never loops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-avatarchat-attempt"
REASON_HEADER = "x-avatarchat-failure"

#: Handles one message body (decoded JSON) with its routing key; raising asks for a retry.
Handler = Callable[[Mapping[str, Any], str], Awaitable[None]]


class PermanentFailure(Exception):
    """A handler's verdict that retrying cannot help: the message goes to the dead-letter queue at once."""


@dataclass(frozen=True)
class ConsumerSpec:
    """What a consumer listens to and how it retries."""

    queue: str
    """Durable queue name, e.g. `knowledge.ingest`."""
    exchange: str
    """Topic exchange the queue binds to, e.g. `document.events`."""
    routing_keys: Sequence[str]
    """Binding patterns, e.g. `("document.added",)`."""
    max_attempts: int = 5
    """Deliveries before the message is dead-lettered."""
    backoff_seconds: Sequence[float] = (1.0, 5.0, 30.0, 120.0)
    """Wait before attempt n+1 (the last value repeats)."""
    prefetch: int = 4
    """Unacked messages in flight per consumer."""


class Bus:
    """One robust connection with a publishing channel (publisher confirms on) and consuming channels."""

    def __init__(self, connection: AbstractRobustConnection, channel: AbstractChannel) -> None:
        self._connection = connection
        self._channel = channel
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumers: list[tuple[AbstractChannel, AbstractQueue, str]] = []

    @classmethod
    async def connect(cls, url: str) -> Bus:
        """Connects (reconnecting by itself after broker restarts) and opens the publishing channel."""
        connection = await aio_pika.connect_robust(url, timeout=10)
        channel = await connection.channel(publisher_confirms=True)
        return cls(connection, channel)

    async def exchange(self, name: str, channel: AbstractChannel | None = None) -> AbstractExchange:
        """The durable topic exchange `name`, declared once."""
        if channel is None and name in self._exchanges:
            return self._exchanges[name]
        declared = await (channel or self._channel).declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        if channel is None:
            self._exchanges[name] = declared
        return declared

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: Mapping[str, Any],
        *,
        message_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publishes a persistent JSON message and waits for the broker's confirm (at most 10 s)."""
        async with asyncio.timeout(10):
            await self._publish(exchange, routing_key, body, message_id, headers)

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: Mapping[str, Any],
        message_id: str | None,
        headers: Mapping[str, Any] | None,
    ) -> None:
        target = await self.exchange(exchange)
        message = aio_pika.Message(
            json.dumps(body, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers=dict(headers or {}),
        )
        await target.publish(message, routing_key=routing_key, mandatory=False)

    async def consume(self, spec: ConsumerSpec, handler: Handler) -> None:
        """Declares the queue topology of `spec` and starts delivering messages to `handler`."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=spec.prefetch)
        exchange = await self.exchange(spec.exchange, channel)
        # Retries and dead letters are republished on the confirming channel, so a broker crash cannot lose them.
        default = self._channel.default_exchange
        queue = await channel.declare_queue(spec.queue, durable=True)
        for key in spec.routing_keys:
            await queue.bind(exchange, routing_key=key)
        # Expired retries dead-letter straight back onto the main queue through the default exchange.
        await channel.declare_queue(
            f"{spec.queue}.retry",
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": spec.queue},
        )
        await channel.declare_queue(f"{spec.queue}.dlq", durable=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            attempt = _attempt(message.headers)
            routing_key = str((message.headers or {}).get("x-avatarchat-routing-key", message.routing_key or ""))
            try:
                body = json.loads(message.body)
                if not isinstance(body, dict):
                    raise PermanentFailure("message body is not a JSON object")
                await handler(body, routing_key)
            except asyncio.CancelledError:
                await message.nack(requeue=True)
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"[:500]
                permanent = isinstance(exc, PermanentFailure | json.JSONDecodeError)
                if permanent or attempt >= spec.max_attempts:
                    log.error(
                        "message dead-lettered", extra={"queue": spec.queue, "attempt": attempt, "reason": reason}
                    )
                    await _forward(
                        default,
                        message=message,
                        queue=f"{spec.queue}.dlq",
                        attempt=attempt,
                        routing_key=routing_key,
                        reason=reason,
                    )
                else:
                    delay = spec.backoff_seconds[min(attempt - 1, len(spec.backoff_seconds) - 1)]
                    log.warning("message retried", extra={"queue": spec.queue, "attempt": attempt, "reason": reason})
                    await _forward(
                        default,
                        message=message,
                        queue=f"{spec.queue}.retry",
                        attempt=attempt + 1,
                        routing_key=routing_key,
                        reason=reason,
                        delay_seconds=delay,
                    )
                await message.ack()
                return
            await message.ack()

        tag = await queue.consume(on_message)
        self._consumers.append((channel, queue, tag))

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Reads up to `limit` messages of `<queue>.dlq` without removing them (for operators and tests)."""
        channel = await self._connection.channel()
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
            found: list[DeadLetter] = []
            held: list[AbstractIncomingMessage] = []
            while len(found) < limit:
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(message)
                headers = dict(message.headers or {})
                found.append(
                    DeadLetter(
                        body=json.loads(message.body) if message.body.startswith(b"{") else {},
                        reason=str(headers.get(REASON_HEADER, "")),
                        attempts=_attempt(headers),
                        routing_key=str(headers.get("x-avatarchat-routing-key", "")),
                        headers=headers,
                    )
                )
            for message in held:
                await message.nack(requeue=True)
            return found
        finally:
            await channel.close()

    async def close(self) -> None:
        """Stops consumers (in-flight handlers finish first) and closes the connection."""
        for channel, queue, tag in self._consumers:
            await queue.cancel(tag)
            await channel.close()
        self._consumers.clear()
        await self._connection.close()


def _attempt(headers: Mapping[str, Any] | None) -> int:
    value = (headers or {}).get(ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) else int(str(value))


async def _forward(
    exchange: AbstractExchange,
    *,
    message: AbstractIncomingMessage,
    queue: str,
    attempt: int,
    routing_key: str,
    reason: str,
    delay_seconds: float | None = None,
) -> None:
    headers = dict(message.headers or {})
    headers.update({ATTEMPT_HEADER: attempt, REASON_HEADER: reason, "x-avatarchat-routing-key": routing_key})
    copy = aio_pika.Message(
        message.body,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        headers=headers,
        expiration=delay_seconds,
    )
    await exchange.publish(copy, routing_key=queue, timeout=10)


@dataclass
class DeadLetter:
    """A message found in a dead-letter queue."""

    body: dict[str, Any]
    reason: str
    attempts: int
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
