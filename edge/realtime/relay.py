"""Relays one SendMessage stream to its conversation room, rejoining reconnected sockets exactly (replay.py).

The answer's events go straight to this process's sockets while no other edge process holds a socket of
the conversation (rooms.py); otherwise through the Redis manager, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from avatarchat.conversation.v1 import conversation_pb2
from edge.realtime.protocol import StreamTranslator
from edge.realtime.replay import ReplayLog, Resumer
from edge.realtime.rooms import RoomHosts
from edge.realtime.visitors import conversation_room

log = logging.getLogger(__name__)

#: A relay re-reads the resume queue and the room's processes this often even when not woken: a
#: wake-up lost with a dropped Redis connection delays a resume by at most this much.
_REFRESH_EVERY_SECONDS = 5.0

#: Emits (event, payload) to `room=` or `to=`; `local=True` reaches only this process's sockets.
Emit = Callable[..., Awaitable[None]]
#: Puts a socket (on any edge) into a room.
Join = Callable[[str, str], Awaitable[None]]


class StreamRelay:
    """Forwards one answer; keeps its chunks in memory for sockets that rejoin mid-stream."""

    def __init__(
        self,
        translator: StreamTranslator,
        replay: ReplayLog,
        *,
        hosts: RoomHosts,
        emit: Emit,
        join: Join,
        request_id: str,
        others: bool = True,
    ) -> None:
        self._translator = translator
        self._replay = replay
        self._hosts = hosts
        self._emit = emit
        self._join = join
        self._request_id = request_id
        self._chunks: list[dict[str, Any]] = []
        self._room = conversation_room(translator.conversation)
        self._refreshed_at = time.monotonic()
        self._woken = False
        self._rejoined = False
        """Set once this relay moved a socket into the room: it may be on another process."""
        self._others = others
        """Whether another process may hold a socket of the room (read before the answer started, then when woken)."""

    @property
    def message_id(self) -> str:
        """The answer this relay forwards."""
        return self._translator.message_id

    @property
    def _alone(self) -> bool:
        """Whether this process holds every socket of the room, so its events need not go through Redis."""
        return not (self._others or self._rejoined)

    def wake(self) -> None:
        """Asks for the resume queue and the room's processes to be re-read before the next chunk."""
        self._woken = True

    async def run(self, stream: AsyncIterator[conversation_pb2.SendMessageResponse]) -> None:
        """Forwards every event after `started` until the final message or error; never raises."""
        message_id = self._translator.message_id
        try:
            async for event in stream:
                translated = self._translator.translate(event)
                if translated is None:
                    continue
                name, payload = translated
                if self._woken or time.monotonic() - self._refreshed_at >= _REFRESH_EVERY_SECONDS:
                    await self._refresh()
                if name in ("stream:end", "error"):
                    await self._finish(name, payload)
                    return
                if name == "stream:chunk":
                    self._chunks.append(payload)
                await self._emit(name, payload, room=self._room, local=self._alone)
        except grpc.aio.AioRpcError as exc:
            log.warning("answer stream failed", extra={"code": exc.code().name, "message_id": message_id})
            await self._fail(exc.code().name, exc.details() or "the answer stream failed")
            return
        except Exception:
            log.exception("answer relay failed", extra={"message_id": message_id})
            await self._fail("INTERNAL", "Internal server error")
            return
        finally:
            # The relay stops at the final message, before the stream's end: closing it now ends what wraps the
            # call (a tracing interceptor's span) at once, not when garbage collection gets to it.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        await self._fail("UNAVAILABLE", "the answer stream ended early")

    async def _refresh(self) -> None:
        """Serves queued resumes, then re-reads whether other processes hold sockets of the room."""
        self._woken = False
        self._refreshed_at = time.monotonic()
        await self._rejoin(await self._replay.take(self._translator.message_id))
        self._others = await self._hosts.others(self._room)

    async def _rejoin(self, resumers: list[Resumer]) -> None:
        """Sends each queued socket the chunks after its last one, then puts it into the room."""
        if resumers:
            # Its socket may be on another process, which adds itself to the registry only later.
            self._rejoined = True
        for resumer in resumers:
            for chunk in self._chunks:
                if chunk["index"] > resumer.after:
                    await self._emit("stream:chunk", chunk, to=resumer.sid)
            await self._join(resumer.sid, self._room)

    async def _finish(self, name: str, payload: dict[str, Any]) -> None:
        if name == "error":
            payload["requestId"] = self._request_id
        t = self._translator
        resumers = await self._replay.finish(t.conversation, t.message_id, {"event": name, "payload": payload})
        await self._rejoin(resumers)
        await self._emit(name, payload, room=self._room, local=self._alone)

    async def _fail(self, code: str, message: str) -> None:
        payload = {"code": code, "message": message, "messageId": self._translator.message_id}
        try:
            await self._finish("error", payload)
        except Exception:
            log.exception("could not report a failed answer stream")
