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
from engineio import packet as eio_packet
from redis.exceptions import RedisError
from socketio import packet as sio_packet
from starlette.routing import BaseRoute, Mount

from edge.ratelimit import RateLimiter
from edge.realtime.gateway import Gateway
from edge.realtime.hub import WidgetHub
from edge.realtime.namespace import NAMESPACE, WidgetNamespace
from edge.realtime.presence import Presence
from edge.realtime.replay import ReplayLog
from edge.realtime.rooms import RoomHosts, tracked
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
        manager: EdgeRedisManager = self.server.manager
        hosts = RoomHosts(redis, s.widget_key_prefix, manager.host_id, s.presence_ttl_seconds)
        manager.hosts = hosts
        replay = ReplayLog(redis, s.widget_key_prefix, s.stream_replay_ttl_seconds)
        hub = WidgetHub(
            s,
            gateway=Gateway(state.clients, ServiceTokens(s.resolved_internal_secret(), "edge")),
            presence=Presence(redis, s.widget_key_prefix, s.presence_ttl_seconds),
            replay=replay,
            hosts=hosts,
            limiter=RateLimiter(redis, f"{s.widget_key_prefix}:rl", s.widget_message_window_seconds),
            emit=self._emit,
            join=self._join,
        )
        namespace = WidgetNamespace(hub)
        self.server.register_namespace(namespace)
        self.hub = hub
        background = [
            asyncio.create_task(_heartbeats(hub.presence, manager)),
            asyncio.create_task(_wakes(replay, hub, manager.host_id)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await namespace.close()
            await hub.close()
            await self.server.shutdown()
            await _close_manager(self.server.manager)
            manager.hosts = None
            await redis.aclose()
            self.hub = None

    async def _emit(self, event: str, data: dict[str, Any], local: bool = False, **target: Any) -> None:
        if local and "room" in target:
            await self.server.manager.emit_here(event, data, NAMESPACE, target["room"])
            return
        await self.server.emit(event, data, namespace=NAMESPACE, ignore_queue=local, **target)

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


class EdgeRedisManager(BlockingRedisManager):
    """The Redis manager that skips Redis where no other process is concerned, and keeps rooms.py's registry.

    An emit to one socket of this process is delivered here only (the stock manager publishes it
    too, for every process to decode and drop). A local join to a conversation room lists this
    process in the registry first; leaving the last local socket of one unlists it.
    """

    def __init__(self, url: str, channel: str, max_connections: int) -> None:
        super().__init__(url, channel, max_connections)
        self.hosts: RoomHosts | None = None

    def holds(self, sid: str, namespace: str | None) -> bool:
        """Whether the socket is connected (or connecting) to this process."""
        namespace = namespace or "/"
        return bool(self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace))

    async def emit(  # noqa: PLR0917 - python-socketio's signature
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Publishes to Redis unless asked not to (`ignore_queue`) or the target is one socket of this process."""
        target = to or room
        if callback is None and isinstance(target, str) and self.holds(target, namespace):
            kwargs["ignore_queue"] = True
        return await super().emit(
            event, data, namespace=namespace, room=target, skip_sid=skip_sid, callback=callback, **kwargs
        )

    async def enter_room(self, sid: str, namespace: str, room: str, eio_sid: Any = None) -> Any:
        """Lists this process under a conversation room before its first socket there (a join from here)."""
        if tracked(room) and self.holds(sid, namespace):
            await self._list(room)
        return await super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    async def _handle_enter_room(self, message: dict[str, Any]) -> None:
        """The same for a join another process asked for (a relay rejoining this process's socket)."""
        if tracked(message.get("room")) and self.holds(str(message.get("sid")), message.get("namespace")):
            await self._list(str(message["room"]))
        await super()._handle_enter_room(message)

    async def leave_room(self, sid: str, namespace: str, room: str) -> Any:
        """Unlists this process from a conversation room its last socket left."""
        result = await super().leave_room(sid, namespace, room)
        await self._unlist(namespace, [room] if tracked(room) else [])
        return result

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        """Unlists this process from the conversation rooms a closing socket was the last one of."""
        rooms = [r for r in self.get_rooms(sid, namespace) if tracked(r)] if self.holds(sid, namespace) else []
        result = await super().disconnect(sid, namespace, **kwargs)
        await self._unlist(namespace, rooms)
        return result

    async def emit_here(self, event: str, data: Any, namespace: str, room: str) -> None:
        """Sends an event to this process's sockets in a room: encoded once, queued on each socket in turn.

        The stock local emit does the same through a task per socket and a wait on all of them,
        which costs more than the send itself for the one or two sockets of a conversation.
        """
        message = eio_packet.Packet(eio_packet.MESSAGE, encode_event(namespace, event, data))
        for _, eio_sid in list(self.get_participants(namespace, room)):
            await self.server.eio.send_packet(eio_sid, message)

    def local_rooms(self, namespace: str) -> list[str]:
        """The conversation rooms with a socket on this process."""
        return [r for r in self.rooms.get(namespace, {}) if tracked(r)]

    async def _list(self, room: str) -> None:
        if self.hosts is None:
            return
        try:
            await self.hosts.add([room])
        except (RedisError, OSError):
            # The join itself matters more; the heartbeat lists the room again shortly.
            log.warning("could not list a room in the registry", exc_info=True)

    async def _unlist(self, namespace: str, rooms: list[str]) -> None:
        if self.hosts is None:
            return
        for room in rooms:
            if room in self.rooms.get(namespace or "/", {}):
                continue
            try:
                await self.hosts.remove(room)
            except (RedisError, OSError):
                log.warning("could not unlist a room; it ages out", exc_info=True)


def encode_event(namespace: str, event: str, data: Any) -> str:
    """The Socket.io EVENT packet of an emit without an ack, as `socketio.packet.Packet(...).encode()` writes it.

    Written here because the packet's constructor walks the whole payload looking for bytes (to pick a binary
    packet), which took more of a chunk's emit than the encoding; the widget's payloads are JSON and never hold
    any.
    """
    prefix = "" if namespace == "/" else namespace + ","
    return f"{sio_packet.EVENT}{prefix}{sio_packet.Packet.json.dumps([event, data], separators=(',', ':'))}"


async def _heartbeats(presence: Presence, manager: EdgeRedisManager) -> None:
    while True:
        await asyncio.sleep(presence.interval_seconds)
        await presence.heartbeat()
        rooms = manager.local_rooms(NAMESPACE)
        if manager.hosts is not None and rooms:
            try:
                await manager.hosts.add(rooms)
            except (RedisError, OSError):
                log.warning("room registry heartbeat failed", exc_info=True)


async def _wakes(replay: ReplayLog, hub: WidgetHub, host_id: str) -> None:
    """Passes wake-ups for this process's relays (a resume queued, a socket joined elsewhere) to them."""
    while True:
        try:
            for message_id in await replay.wakes(host_id, timeout_seconds=1):
                hub.wake(message_id)
        except (RedisError, OSError):
            log.warning("could not read relay wake-ups; retrying", exc_info=True)
            await asyncio.sleep(1.0)


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
    manager = EdgeRedisManager(settings.redis_url, settings.socketio_channel, settings.widget_redis_connections)
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
