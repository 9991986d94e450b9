"""The widget's use cases: connect, send, typing, interactions, end, resume. The namespace only translates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.conversation.v1 import conversation_pb2
from edge.ratelimit import Bucket, RateLimiter
from edge.realtime.gateway import Gateway, VisitorToken
from edge.realtime.presence import Presence
from edge.realtime.protocol import Handshake, ProtocolError, SendRequest, StreamTranslator, as_json
from edge.realtime.relay import StreamRelay
from edge.realtime.replay import ReplayLog
from edge.realtime.rooms import RoomHosts
from edge.realtime.visitors import Visitor, chatbot_room, conversation_room
from edge.settings import EdgeSettings

log = logging.getLogger(__name__)

#: Emits (event, payload) to a room or socket id, optionally skipping one socket.
Emit = Callable[..., Awaitable[None]]
#: Puts a socket into a room.
Join = Callable[[str, str], Awaitable[None]]

#: gRPC codes whose details are safe and useful for a visitor; everything else is reported by name only.
_VISIBLE_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}


class Refused(Exception):
    """A connection the edge refuses, with the protocol's `{code, message}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def rpc_error(exc: grpc.aio.AioRpcError) -> ProtocolError:
    """A failed call as a protocol error; `RESOURCE_EXHAUSTED` (plan limits) reads `LIMIT_EXCEEDED`."""
    code = exc.code()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ProtocolError(exc.details() or "limit exceeded", "LIMIT_EXCEEDED")
    if code in _VISIBLE_CODES:
        return ProtocolError(exc.details() or code.name, code.name)
    return ProtocolError("the chat service is unavailable, try again", "UNAVAILABLE")


class WidgetHub:
    """Holds each socket's visitor and runs the calls behind every widget event."""

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        gateway: Gateway,
        presence: Presence,
        replay: ReplayLog,
        hosts: RoomHosts,
        limiter: RateLimiter,
        emit: Emit,
        join: Join,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self.presence = presence
        self._replay = replay
        self._hosts = hosts
        self._limiter = limiter
        self._emit = emit
        self._join = join
        self._visitors: dict[str, Visitor] = {}
        self._streams: set[asyncio.Task[None]] = set()
        self._relays: dict[str, StreamRelay] = {}
        """Answers relayed by this process, by message id (for wake-ups)."""

    def visitor(self, sid: str) -> Visitor:
        """The visitor of a connected socket."""
        found = self._visitors.get(sid)
        if found is None:
            raise ProtocolError("not connected", "UNAUTHENTICATED")
        return found

    async def connect(self, sid: str, handshake: Handshake, origin: str) -> None:
        """Resolves the embed, issues the visitor token and joins the rooms; raises Refused."""
        try:
            resolved = await self._gateway.resolve(
                chatbot_pb2.ResolveEmbedRequest(
                    embed_id=handshake.embed_id,
                    origin=origin,
                    page_url=handshake.page_url,
                    visitor_id=handshake.visitor_id,
                    visitor_signature=handshake.visitor_signature,
                )
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise Refused("NOT_FOUND", "unknown embed id") from None
            error = rpc_error(exc)
            raise Refused(error.code, error.message) from None
        if not resolved.origin_allowed:
            raise Refused("ORIGIN_NOT_ALLOWED", f"origin {origin or '(none)'} may not embed this chatbot")
        if not resolved.visible:
            raise Refused("NOT_VISIBLE", "the widget does not show on this page now")
        try:
            token = await self._gateway.visitor_token(resolved.chatbot, resolved.visitor_id, resolved.visitor_verified)
        except grpc.aio.AioRpcError as exc:
            error = rpc_error(exc)
            raise Refused(error.code, error.message) from None
        visitor = Visitor(
            chatbot=resolved.chatbot,
            visitor_id=resolved.visitor_id,
            verified=resolved.visitor_verified,
            token=token,
            page_url=handshake.page_url,
        )
        if handshake.conversation_id:
            visitor.conversation = await self._resumable(visitor, handshake.conversation_id)
        self._visitors[sid] = visitor
        await self._join(sid, chatbot_room(visitor.chatbot))
        await self.presence.join(sid, visitor.chatbot)

    async def _resumable(self, visitor: Visitor, conversation: str) -> str:
        """The conversation to resume, if it is this visitor's and still open; else none (a fresh start)."""
        if not conversation.startswith(f"{visitor.chatbot}/conversations/"):
            return ""
        try:
            found = await self._gateway.get_conversation(visitor.token, conversation)
        except grpc.aio.AioRpcError as exc:
            log.info("not resuming a conversation", extra={"code": exc.code().name})
            return ""
        return found.name if found.state == conversation_pb2.CONVERSATION_STATE_ACTIVE else ""

    async def after_connect(self, sid: str, handshake: Handshake) -> None:
        """Sends `session`, then rejoins the conversation: exactly after `lastChunk` when one is given."""
        visitor = self.visitor(sid)
        greeting = await self._gateway.greeting(handshake.embed_id)
        resumed = bool(visitor.conversation)
        await self._emit(
            "session",
            {
                "visitorId": visitor.visitor_id,
                "verified": visitor.verified,
                "conversation": visitor.conversation or None,
                "chatbot": visitor.chatbot,
                "greeting": greeting,
                "resumed": resumed,
            },
            to=sid,
        )
        if not resumed:
            return
        last = handshake.last_chunk
        prefix = f"{visitor.conversation}/messages/"
        live = await self._replay.live(visitor.conversation)
        if last is not None and last.message_id.startswith(prefix) and last.message_id != live:
            await self._send_stored(sid, visitor, last.message_id)
        if live is None or last is None:
            await self._join_conversation(sid, visitor.conversation)  # nothing to resume exactly
            return
        after = last.index if last.message_id == live else -1
        ended = await self._replay.queue(live, sid, after)
        if ended is not None:  # it ended between the two reads: the stored answer, then the room
            await self._send_stored(sid, visitor, live, ended)
            await self._join_conversation(sid, visitor.conversation)
            return
        await asyncio.sleep(self._settings.resume_join_timeout_seconds)
        if sid in self._visitors and await self._replay.withdraw(live, sid, after):
            log.warning("the relay of an answer did not take a resume; joining the room directly")
            await self._join_conversation(sid, visitor.conversation)

    async def _join_conversation(self, sid: str, conversation: str) -> None:
        """Puts a socket into a conversation room, then wakes the relay of an answer streaming there.

        The relay may be on another process and sending its chunks to its own sockets only; woken,
        it sees this process in the room's registry (rooms.py) and sends through Redis from then on.
        """
        await self._join(sid, conversation_room(conversation))
        await self._replay.wake_live(conversation)

    def wake(self, message_id: str) -> None:
        """Wakes the relay of an answer if this process runs it (replay.py, rooms.py)."""
        relay = self._relays.get(message_id)
        if relay is not None:
            relay.wake()

    async def _send_stored(
        self, sid: str, visitor: Visitor, message_id: str, ended: dict[str, Any] | None = None
    ) -> None:
        """`message:receive` with an answer that finished while the widget was away."""
        ended = ended if ended is not None else await self._replay.ended(message_id)
        stored = await self._stored(visitor, message_id)
        if stored is not None:
            await self._emit("message:receive", {"message": as_json(stored)}, to=sid)
        elif ended is not None and ended.get("event") == "stream:end":
            await self._emit("message:receive", {"message": ended["payload"]["message"]}, to=sid)

    async def _stored(self, visitor: Visitor, message_id: str) -> conversation_pb2.Message | None:
        try:
            messages = await self._gateway.messages(await self._token(visitor), visitor.conversation)
        except grpc.aio.AioRpcError:
            log.warning("could not list messages for a resume", exc_info=True)
            return None
        return next((m for m in messages if m.name == message_id), None)

    async def disconnect(self, sid: str) -> None:
        """Forgets a socket; an answer it started keeps streaming to its room (and the replay log)."""
        self._visitors.pop(sid, None)
        await self.presence.leave(sid)

    async def _token(self, visitor: Visitor) -> VisitorToken:
        if not visitor.token.fresh:
            visitor.token = await self._gateway.visitor_token(visitor.chatbot, visitor.visitor_id, visitor.verified)
        return visitor.token

    async def limit(self, sid: str, kind: str, limit: int, window_key: str) -> None:
        """Counts one event; raises RATE_LIMITED past the limit (fails open without Redis)."""
        quota = await self._limiter.hit([Bucket(f"{kind}:{window_key}", limit)])
        if quota is not None and not quota.allowed:
            raise ProtocolError(f"too many {kind} events; retry in {quota.reset_seconds} s", "RATE_LIMITED")

    async def send(self, sid: str, request: SendRequest) -> dict[str, Any]:
        """Stores the visitor's message and starts relaying the answer; returns the ack."""
        visitor = self.visitor(sid)
        s = self._settings
        await self.limit(sid, "message", s.widget_message_limit, f"{visitor.chatbot}:{visitor.visitor_id}")
        try:
            token = await self._token(visitor)
            if not visitor.conversation:
                created = await self._gateway.create_conversation(token, visitor.chatbot, visitor.page_url)
                visitor.conversation = created.name
                await self._join(sid, conversation_room(created.name))
            stream = self._gateway.send_message(
                token,
                conversation_pb2.SendMessageRequest(
                    name=visitor.conversation, text=request.text, request_id=request.client_message_id
                ),
                s.stream_timeout_seconds,
            )
            first = await anext(stream)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc) from None
        except StopAsyncIteration:
            raise ProtocolError("the answer stream ended before it started", "UNAVAILABLE") from None
        translator = StreamTranslator(visitor.conversation)
        translated = translator.translate(first)
        if translated is None or translated[0] != "stream:start":
            raise ProtocolError("the answer stream did not start", "UNAVAILABLE")
        room = conversation_room(visitor.conversation)
        # While no other process holds a socket of the room, the answer's first events skip Redis as its chunks do.
        others, _ = await asyncio.gather(
            self._hosts.others(room),
            self._replay.start(visitor.conversation, translator.message_id, self._hosts.host_id),
        )
        echo = conversation_pb2.Message(
            name=first.started.visitor_message,
            role=conversation_pb2.MESSAGE_ROLE_VISITOR,
            text=request.text,
            state=conversation_pb2.MESSAGE_STATE_COMPLETE,
            request_id=request.client_message_id,
        )
        await self._emit("message:receive", {"message": as_json(echo)}, room=room, local=not others)
        await self._emit(*translated, room=room, local=not others)
        relay = StreamRelay(
            translator,
            self._replay,
            hosts=self._hosts,
            emit=self._emit,
            join=self._join,
            request_id=request.client_message_id,
            others=others,
        )
        task = asyncio.create_task(relay.run(stream))
        self._streams.add(task)
        self._relays[relay.message_id] = relay
        task.add_done_callback(self._streams.discard)
        task.add_done_callback(lambda _: self._relays.pop(relay.message_id, None))
        return {"ok": True, "messageId": translator.message_id, "conversation": visitor.conversation}

    async def typing(self, sid: str, event: str) -> None:
        """Relays typing:start/stop to the rest of the conversation room."""
        visitor = self.visitor(sid)
        await self.limit(sid, "event", self._settings.widget_event_limit, sid)
        if visitor.conversation:
            await self._emit(event, {"from": "visitor"}, room=conversation_room(visitor.conversation), skip_sid=sid)

    async def interaction(self, sid: str, kind: str) -> None:
        """Records an avatar interaction (analytics will take these; logged for now)."""
        visitor = self.visitor(sid)
        await self.limit(sid, "event", self._settings.widget_event_limit, sid)
        log.info("avatar interaction", extra={"chatbot": visitor.chatbot, "kind": kind})

    async def end(self, sid: str) -> dict[str, Any]:
        """Ends the conversation and tells its room."""
        visitor = self.visitor(sid)
        if not visitor.conversation:
            return {"ok": True}
        try:
            ended = await self._gateway.end_conversation(await self._token(visitor), visitor.conversation)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc) from None
        room = conversation_room(visitor.conversation)
        await self._emit("conversation:end", {"conversation": as_json(ended)}, room=room)
        visitor.conversation = ""
        return {"ok": True}

    async def close(self) -> None:
        """Cancels the relays still running (shutdown)."""
        for task in list(self._streams):
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
