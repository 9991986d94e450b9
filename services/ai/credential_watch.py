"""Hears credential changes from every AI process on Redis pub/sub, so answers need not read a stamp.

The watcher holds one subscription to `CHANGED_CHANNEL` on a connection of its own. Every subscribe
confirmation (the first, and each one after a lost connection) tells its listeners to forget every tenant, as
whatever was published while it was away is gone for good; every message tells them to forget one tenant.
`listening` is true from a confirmation until the next error on the connection; while it is false the caches
compare the Redis stamp on each answer instead. A change thus reaches other processes within the time Redis takes
to deliver a message (normally well under a millisecond), not strictly by the very next answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from services.ai.credentials import CHANGED_CHANNEL

log = logging.getLogger(__name__)


class CredentialListener(Protocol):
    """A cache of tenants' credentials that can drop one tenant or all of them."""

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drops what is cached for the tenant."""

    def forget_all(self) -> None:
        """Drops what is cached for every tenant."""


class CredentialWatch:
    """Subscribes to credential changes, tells its listeners, and resubscribes after any error until stopped."""

    def __init__(
        self,
        redis_url: str,
        *,
        client_name: str = "avatarchat-ai-credential-watch",
        first_delay: float = 0.1,
        max_delay: float = 2.0,
        ping_every: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        """Retries wait `first_delay` doubling to `max_delay`; a PING sent after `ping_every` quiet s must come back."""
        self._redis = aioredis.Redis.from_url(
            redis_url,
            client_name=client_name,
            socket_connect_timeout=connect_timeout,
            socket_timeout=connect_timeout,
            # Nothing retried inside redis-py, which reconnects and resubscribes on its own (even with no retries
            # left, before raising): every error comes straight to `_run`, which reports the gap and starts over.
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._ping_every = ping_every
        self._listeners: list[CredentialListener] = []
        self._listening = False
        self._warned = False
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        """Whether the subscription is confirmed and no error has come since (so no change can be missed)."""
        return self._listening

    def add(self, listener: CredentialListener) -> None:
        """Tells `listener` about every change from now on."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Starts subscribing in the background; answers read the stamp until the subscription is confirmed."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="credential-watch")

    async def stop(self) -> None:
        """Ends the subscription and closes the watcher's connection."""
        task, self._task = self._task, None
        self._listening = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._redis.aclose()

    async def _run(self) -> None:
        delay = self._first_delay
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CHANGED_CHANNEL)
                await self._listen(pubsub)
            except Exception as exc:  # a watcher that ended would leave every answer on the stamp for good
                if self._listening:
                    delay = self._first_delay
                self._lost(exc)
            finally:
                await self._close(pubsub)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def _listen(self, pubsub: PubSub) -> None:
        """Handles messages until the connection fails; a silent one is found out by a PING left unanswered."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._ping_every)
            if message is None:
                if pinged:
                    raise RedisConnectionError("no answer to PING")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            # Messages published while unsubscribed are lost: nothing cached before now can be trusted.
            self._tell_all()
            self._listening = True
            if self._warned:
                log.info("credential changes heard again")
                self._warned = False
        elif kind == "message":
            try:
                tenant_id = uuid.UUID(bytes(message["data"]).decode())
            except (TypeError, ValueError):
                log.warning("unreadable credential change message; forgetting every tenant")
                self._tell_all()
                return
            for listener in self._listeners:
                listener.forget(tenant_id)

    def _tell_all(self) -> None:
        for listener in self._listeners:
            listener.forget_all()

    def _lost(self, exc: Exception) -> None:
        self._listening = False
        if self._warned:
            return
        self._warned = True
        unexpected = not isinstance(exc, (RedisError, OSError))
        log.warning(
            "credential changes not heard (%s); answers read the credentials stamp until resubscribed",
            type(exc).__name__,
            exc_info=unexpected,
        )

    async def _close(self, pubsub: PubSub) -> None:
        try:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        except Exception as exc:  # the connection is dropped either way; the loop must go on
            log.debug("closing the credential subscription failed: %s", type(exc).__name__)
