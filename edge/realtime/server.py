"""Builds the Socket.io server for the edge: the ASGI mount, the Redis manager and the lifespan hook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import socketio
from starlette.routing import BaseRoute, Mount

from edge.ratelimit import RateLimiter
from edge.realtime.gateway import Gateway
from edge.realtime.hub import WidgetHub
from edge.realtime.namespace import NAMESPACE, WidgetNamespace
from edge.realtime.presence import Presence
from edge.realtime.replay import ReplayLog
from edge.settings import EdgeSettings
from edge.state import EdgeState
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)


@dataclass
class Realtime:
    """The Socket.io server of one edge process; `hub` exists while the app runs."""

    settings: EdgeSettings
    server: socketio.AsyncServer
    routes: list[BaseRoute] = field(default_factory=list)
    hub: WidgetHub | None = None

    def lifespan(self, state: EdgeState) -> AbstractAsyncContextManager[None]:
        """The hook for `create_app(lifespan_hooks=...)`: builds the hub on the running state."""
        return self._run(state)

    @asynccontextmanager
    async def _run(self, state: EdgeState) -> AsyncIterator[None]:
        s = self.settings
        # Its own client: the REST limiter's 0.5 s timeouts (fail open) would abort answers under load.
        redis = blocking_redis(s.redis_url, s.widget_redis_connections)
        hub = WidgetHub(
            s,
            gateway=Gateway(state.clients, ServiceTokens(s.resolved_internal_secret(), "edge")),
            presence=Presence(redis, s.widget_key_prefix, s.presence_ttl_seconds),
            replay=ReplayLog(redis, s.widget_key_prefix, s.stream_replay_ttl_seconds),
            limiter=RateLimiter(redis, f"{s.widget_key_prefix}:rl", s.widget_message_window_seconds),
            emit=self._emit,
            join=self._join,
        )
        namespace = WidgetNamespace(hub)
        self.server.register_namespace(namespace)
        self.hub = hub
        heartbeat = asyncio.create_task(_heartbeats(hub.presence))
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await namespace.close()
            await hub.close()
            await self.server.shutdown()
            await _close_manager(self.server.manager)
            await redis.aclose()
            self.hub = None

    async def _emit(self, event: str, data: dict[str, Any], **target: Any) -> None:
        await self.server.emit(event, data, namespace=NAMESPACE, **target)

    async def _join(self, sid: str, room: str) -> None:
        await self.server.enter_room(sid, room, namespace=NAMESPACE)


def blocking_redis(url: str, max_connections: int) -> aioredis.Redis:
    """A client whose pool waits for a free connection (redis-py's default pool raises past 100)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5.0, socket_timeout=5.0, socket_connect_timeout=2.0
    )
    return aioredis.Redis.from_pool(pool)


class BlockingRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager on a waiting pool: under load its publishes queue instead of failing.

    The stock manager's pool raises MaxConnectionsError past 100 concurrent publishes; it then
    reconnects (leaking the old client) and drops the emit for the other edges.
    """

    def __init__(self, url: str, channel: str, max_connections: int) -> None:
        super().__init__(url, channel=channel)
        self._max_connections = max_connections

    def _redis_connect(self) -> None:
        self.redis = blocking_redis(self.redis_url, self._max_connections)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


async def _heartbeats(presence: Presence) -> None:
    while True:
        await asyncio.sleep(presence.interval_seconds)
        await presence.heartbeat()


async def _close_manager(manager: Any) -> None:
    """Stops the Redis manager's listener and closes its connections (python-socketio leaves them open)."""
    listener = getattr(manager, "thread", None)
    if isinstance(listener, asyncio.Task):
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
    for resource in (getattr(manager, "pubsub", None), getattr(manager, "redis", None)):
        if resource is not None:
            with contextlib.suppress(Exception):
                await resource.aclose()


def build_realtime(settings: EdgeSettings) -> Realtime:
    """The Socket.io server mounted at `/socket.io/`; every emit fans out through Redis to all edges."""
    manager = BlockingRedisManager(settings.redis_url, settings.socketio_channel, settings.widget_redis_connections)
    server = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        # Any page may open a socket: the per-chatbot origin check is ResolveEmbed's, at connect.
        cors_allowed_origins="*",
        max_http_buffer_size=64 * 1024,
        logger=False,
        engineio_logger=False,
    )
    app = socketio.ASGIApp(server, socketio_path=None)
    return Realtime(settings, server, routes=[Mount("/socket.io", app=app)])
