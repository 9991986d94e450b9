"""Exact resume of a streaming answer across reconnects and edges: no lost and no duplicated chunk.

A reconnecting socket does not join the conversation room itself. It queues `(sid, lastIndex)` on
the answer in Redis and wakes the edge process relaying that answer (a list per process that the
process blocks on), which takes the queue before its next chunk, sends the socket the chunks it
missed from memory, puts it into the room, and only then emits the chunk. Relays also take the
queue every few seconds on their own, in case a wake-up was lost with a dropped connection.
All of this travels in order through the one Socket.io pub/sub channel (and locally, through the
manager at once), so every socket sees each index exactly once. Queueing and finishing are atomic
scripts: a socket either is queued before the answer ends (the relay serves it) or sees it ended
(and gets the stored message instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

#: Queue a resume unless the answer is done, and wake its relay. KEYS: done, pending, relay host.
#: ARGV: entry, ttl, wake-list prefix, message id.
_QUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('GET', KEYS[1]) end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local host = redis.call('GET', KEYS[3])
if host then
  redis.call('RPUSH', ARGV[3] .. host, ARGV[4])
  redis.call('EXPIRE', ARGV[3] .. host, ARGV[2])
end
return false
"""

#: Wake the relay of the answer streaming in a conversation, if any. KEYS: live.
#: ARGV: relay-host key prefix, wake-list prefix, ttl.
_WAKE_LIVE = """
local message = redis.call('GET', KEYS[1])
if not message then return false end
local host = redis.call('GET', ARGV[1] .. message)
if host then
  redis.call('RPUSH', ARGV[2] .. host, message)
  redis.call('EXPIRE', ARGV[2] .. host, ARGV[3])
end
return message
"""

#: Take the queued resumes. KEYS: pending.
_TAKE = """
local queued = redis.call('LRANGE', KEYS[1], 0, -1)
if #queued > 0 then redis.call('DEL', KEYS[1]) end
return queued
"""

#: Mark the answer done and take the last queued resumes. KEYS: done, pending, live, relay host.
#: ARGV: final, ttl, message.
_FINISH = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('DEL', KEYS[4])
local queued = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return queued
"""


@dataclass(frozen=True)
class Resumer:
    """A socket waiting to rejoin an answer after the chunk with index `after`."""

    sid: str
    after: int


def _resumers(raw: list[bytes | str]) -> list[Resumer]:
    out = []
    for item in raw:
        data = json.loads(item)
        out.append(Resumer(str(data["sid"]), int(data["after"])))
    return out


class ReplayLog:
    """Which answer streams in a conversation, who waits to rejoin it, and how it ended."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._queue = redis.register_script(_QUEUE)
        self._take = redis.register_script(_TAKE)
        self._finish = redis.register_script(_FINISH)
        self._wake_live = redis.register_script(_WAKE_LIVE)

    def _pending(self, message_id: str) -> str:
        return f"{self._prefix}:resume:{message_id}"

    def _done(self, message_id: str) -> str:
        return f"{self._prefix}:done:{message_id}"

    def _live(self, conversation: str) -> str:
        return f"{self._prefix}:live:{conversation}"

    def _relay_prefix(self) -> str:
        return f"{self._prefix}:relay:"

    def _wake_prefix(self) -> str:
        return f"{self._prefix}:wake:"

    async def start(self, conversation: str, message_id: str, host_id: str) -> None:
        """Marks an answer as streaming in its conversation, relayed by edge process `host_id`."""
        async with self._redis.pipeline(transaction=False) as pipe:
            # The relay's process first: whoever sees the answer live can wake its relay.
            pipe.set(self._relay_prefix() + message_id, host_id, ex=self._ttl)
            pipe.set(self._live(conversation), message_id, ex=self._ttl)
            await pipe.execute()

    async def wake_live(self, conversation: str) -> None:
        """Tells the relay of the answer streaming in a conversation (if any) to re-read who listens."""
        await self._wake_live(
            keys=[self._live(conversation)], args=[self._relay_prefix(), self._wake_prefix(), self._ttl]
        )

    async def wakes(self, host_id: str, timeout_seconds: int) -> list[str]:
        """Answers of process `host_id` whose relays were woken; waits up to the timeout for the first."""
        key = self._wake_prefix() + host_id
        first = await self._redis.blpop([key], timeout=timeout_seconds)
        if first is None:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            rest, _ = await pipe.execute()
        return [v.decode() if isinstance(v, bytes) else str(v) for v in [first[1], *rest]]

    async def live(self, conversation: str) -> str | None:
        """The answer streaming in a conversation right now, if any."""
        value = await self._redis.get(self._live(conversation))
        return value.decode() if isinstance(value, bytes) else value

    async def queue(self, message_id: str, sid: str, after: int) -> dict[str, Any] | None:
        """Asks the relay to rejoin `sid` after chunk `after`; the final event instead if the answer ended."""
        entry = json.dumps({"sid": sid, "after": after})
        done = await self._queue(
            keys=[self._done(message_id), self._pending(message_id), self._relay_prefix() + message_id],
            args=[entry, self._ttl, self._wake_prefix(), message_id],
        )
        return json.loads(done) if done else None

    async def withdraw(self, message_id: str, sid: str, after: int) -> bool:
        """Removes a queued resume the relay has not taken (it stalled or died); True if it was still queued."""
        entry = json.dumps({"sid": sid, "after": after})
        return int(await self._redis.lrem(self._pending(message_id), 1, entry)) > 0

    async def take(self, message_id: str) -> list[Resumer]:
        """The sockets queued since the last take (the relay calls this before a chunk when woken)."""
        return _resumers(await self._take(keys=[self._pending(message_id)]))

    async def finish(self, conversation: str, message_id: str, final: dict[str, Any]) -> list[Resumer]:
        """Records how the answer ended; returns the sockets still queued."""
        raw = await self._finish(
            keys=[
                self._done(message_id),
                self._pending(message_id),
                self._live(conversation),
                self._relay_prefix() + message_id,
            ],
            args=[json.dumps(final, separators=(",", ":")), self._ttl, message_id],
        )
        return _resumers(raw)

    async def ended(self, message_id: str) -> dict[str, Any] | None:
        """The final event of an answer that ended within the TTL."""
        raw = await self._redis.get(self._done(message_id))
        return json.loads(raw) if raw else None
