"""Relays one SendMessage stream to its conversation room, rejoining reconnected sockets exactly (replay.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from avatarchat.conversation.v1 import conversation_pb2
from edge.realtime.protocol import StreamTranslator
from edge.realtime.replay import ReplayLog, Resumer
from edge.realtime.visitors import conversation_room

log = logging.getLogger(__name__)

#: Queued resumes are taken before a chunk at most this often (a Redis round trip per chunk costs
#: more than everything else a chunk needs); a reconnecting widget waits at most this much longer.
_TAKE_EVERY_SECONDS = 0.25

#: Emits (event, payload) to `room=` or `to=`.
Emit = Callable[..., Awaitable[None]]
#: Puts a socket (on any edge) into a room.
Join = Callable[[str, str], Awaitable[None]]


class StreamRelay:
    """Forwards one answer; keeps its chunks in memory for sockets that rejoin mid-stream."""

    def __init__(
        self, translator: StreamTranslator, replay: ReplayLog, emit: Emit, join: Join, request_id: str
    ) -> None:
        self._translator = translator
        self._replay = replay
        self._emit = emit
        self._join = join
        self._request_id = request_id
        self._chunks: list[dict[str, Any]] = []
        self._room = conversation_room(translator.conversation)
        self._taken_at = 0.0

    async def run(self, stream: AsyncIterator[conversation_pb2.SendMessageResponse]) -> None:
        """Forwards every event after `started` until the final message or error; never raises."""
        message_id = self._translator.message_id
        try:
            async for event in stream:
                translated = self._translator.translate(event)
                if translated is None:
                    continue
                name, payload = translated
                if name in ("stream:end", "error"):
                    await self._finish(name, payload)
                    return
                if name == "stream:chunk":
                    now = time.monotonic()
                    if now - self._taken_at >= _TAKE_EVERY_SECONDS:
                        self._taken_at = now
                        await self._rejoin(await self._replay.take(message_id))
                    self._chunks.append(payload)
                await self._emit(name, payload, room=self._room)
        except grpc.aio.AioRpcError as exc:
            log.warning("answer stream failed", extra={"code": exc.code().name, "message_id": message_id})
            await self._fail(exc.code().name, exc.details() or "the answer stream failed")
            return
        except Exception:
            log.exception("answer relay failed", extra={"message_id": message_id})
            await self._fail("INTERNAL", "Internal server error")
            return
        await self._fail("UNAVAILABLE", "the answer stream ended early")

    async def _rejoin(self, resumers: list[Resumer]) -> None:
        """Sends each queued socket the chunks after its last one, then puts it into the room."""
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
        await self._emit(name, payload, room=self._room)

    async def _fail(self, code: str, message: str) -> None:
        payload = {"code": code, "message": message, "messageId": self._translator.message_id}
        try:
            await self._finish("error", payload)
        except Exception:
            log.exception("could not report a failed answer stream")
