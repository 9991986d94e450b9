"""Who is on a chatbot's widget right now: a Redis sorted set per chatbot, scored by last heartbeat.

Each edge refreshes the sockets it holds every third of the TTL; a crashed edge's sockets age out
on their own, so the count never needs a clean shutdown to be right.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def presence_key(prefix: str, chatbot: str) -> str:
    """The sorted set of one chatbot's present sockets."""
    return f"{prefix}:presence:{chatbot}"


async def presence_count(redis: aioredis.Redis, prefix: str, chatbot: str, ttl_seconds: float) -> int:
    """Sockets on the chatbot's widget whose edge refreshed them within the TTL, on every edge."""
    key = presence_key(prefix, chatbot)
    cutoff = time.time() - ttl_seconds
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", cutoff)
        pipe.zcard(key)
        _, count = await pipe.execute()
    return int(count)


class Presence:
    """This edge's sockets per chatbot, mirrored into Redis with heartbeats."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._local: dict[str, str] = {}
        """socket id → chatbot."""

    @property
    def interval_seconds(self) -> float:
        """How often `heartbeat` should run."""
        return max(0.5, self._ttl / 3)

    async def join(self, sid: str, chatbot: str) -> None:
        """Counts a socket from now on."""
        self._local[sid] = chatbot
        await self._touch({sid: chatbot})

    async def leave(self, sid: str) -> None:
        """Stops counting a socket."""
        chatbot = self._local.pop(sid, None)
        if chatbot is None:
            return
        try:
            await self._redis.zrem(presence_key(self._prefix, chatbot), sid)
        except (RedisError, OSError):
            log.warning("presence: could not remove a socket; it ages out", exc_info=True)

    async def heartbeat(self) -> None:
        """Refreshes every socket this edge holds."""
        await self._touch(dict(self._local))

    async def count(self, chatbot: str) -> int:
        """Present sockets of a chatbot across all edges."""
        return await presence_count(self._redis, self._prefix, chatbot, self._ttl)

    async def _touch(self, sockets: dict[str, str]) -> None:
        if not sockets:
            return
        now = time.time()
        by_bot: dict[str, dict[str, float]] = {}
        for sid, chatbot in sockets.items():
            by_bot.setdefault(chatbot, {})[sid] = now
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for chatbot, members in by_bot.items():
                    key = presence_key(self._prefix, chatbot)
                    pipe.zadd(key, members)
                    pipe.expire(key, self._ttl * 2)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("presence: heartbeat failed", exc_info=True)
