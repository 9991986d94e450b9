"""Which edge processes hold sockets of each conversation room, so a relay can skip Redis when only it does.

python-socketio's Redis manager publishes every emit and every edge process decodes it, even when
the only socket in the room is on the process that emitted. Each process therefore records itself
in a sorted set per conversation room (scored by its last heartbeat, so a crashed process ages out)
while it holds a socket of that room. A relay whose process is the only one listed emits the answer's
events to its own sockets directly; as soon as another process is listed (or the relay itself moved a
socket of another process into the room) it emits through the manager, in order, like every other
event. A process that joins a socket to a room with an answer streaming wakes that answer's relay
(replay.py), which re-reads this registry before its next event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis.asyncio as aioredis

#: Rooms that have a registry entry: only an answer's events take the direct path, and they go to these.
TRACKED_PREFIX = "conversation:"


def tracked(room: object) -> bool:
    """Whether a room is a conversation room (the only kind whose emits may skip Redis)."""
    return isinstance(room, str) and room.startswith(TRACKED_PREFIX)


class RoomHosts:
    """This process's entries in the per-room registry of edge processes."""

    def __init__(self, redis: aioredis.Redis, prefix: str, host_id: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.host_id = host_id
        self._ttl = ttl_seconds

    def _key(self, room: str) -> str:
        return f"{self._prefix}:hosts:{room}"

    async def add(self, rooms: Iterable[str]) -> None:
        """Lists this process under each room (also the heartbeat that keeps the entries alive)."""
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.zadd(self._key(room), {self.host_id: now})
                pipe.expire(self._key(room), self._ttl * 2)
            await pipe.execute()

    async def remove(self, room: str) -> None:
        """Unlists this process from a room it no longer holds a socket of."""
        await self._redis.zrem(self._key(room), self.host_id)

    async def others(self, room: str) -> bool:
        """Whether another live process holds a socket of the room."""
        hosts = await self._redis.zrangebyscore(self._key(room), time.time() - self._ttl, "+inf")
        return any((h.decode() if isinstance(h, bytes) else h) != self.host_id for h in hosts)
