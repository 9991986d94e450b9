"""The `/widget` Socket.io namespace: each `on_<event>` validates the payload and calls the hub.

Event names carry colons (`message:send`), so dispatch maps `:` to `_` (`on_message_send`). Any
failure becomes an `error` event (and a failed ack), never an exception inside python-socketio.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import socketio
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from edge.middleware import request_id_or_new
from edge.realtime.hub import Refused, WidgetHub
from edge.realtime.protocol import ProtocolError, parse_handshake, parse_interaction, parse_send
from services.runtime.context import request_id_var

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

NAMESPACE = "/widget"
#: How long `session` waits for python-socketio to finish the connect handshake.
_CONNECTED_WAIT_SECONDS = 5.0


def page_origin(environ: dict[str, Any]) -> str:
    """The page's origin: the Origin header, else the origin of the Referer.

    Browsers always send Origin on a WebSocket handshake and on cross-origin polling, but not on a
    same-origin polling GET (the edge's own /demo page falling back to polling); Referer is set by
    the browser there too. Neither can be set by page scripts; non-browser clients can forge both,
    which is why the origin check only keeps honest browsers on the tenant's own sites.
    """
    origin = str(environ.get("HTTP_ORIGIN", ""))
    if origin:
        return origin
    referer = urlsplit(str(environ.get("HTTP_REFERER", "")))
    return f"{referer.scheme}://{referer.netloc}" if referer.scheme in ("http", "https") and referer.netloc else ""


class WidgetNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Protocol of widget/PROTOCOL.md on top of `WidgetHub`."""

    def __init__(self, hub: WidgetHub) -> None:
        super().__init__(NAMESPACE)
        self._hub = hub
        self._tasks: set[asyncio.Task[None]] = set()

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Dispatches `a:b` to `on_a_b` with exactly one payload; errors become `error` events.

        Each event gets its own request id, as RequestIdMiddleware gives each HTTP exchange: the gateway's
        channels put it on every upstream call (services/runtime/clients.py) and the logs carry it.
        """
        token = request_id_var.set(uuid.uuid4().hex)
        handler = getattr(self, "on_" + event.replace(":", "_"), None) if event else None
        # One span per event, its upstream calls its children (a no-op unless an exporter is configured). Clients
        # choose event names, so unknown ones share one span name.
        name = f"socket.io {event if handler is not None else 'unknown event'}"
        try:
            with _tracer.start_as_current_span(name, kind=SpanKind.SERVER):
                return await self._dispatch(event, handler, *args)
        finally:
            request_id_var.reset(token)

    async def _dispatch(self, event: str, handler: Callable[..., Awaitable[Any]] | None, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await handler(*args) if handler is not None else None
        sid = args[0]
        if handler is None or len(args) > 2:
            await self._error(sid, ProtocolError(f"unknown event or extra arguments: {event[:64]!r}"))
            return {"ok": False, "error": {"code": "INVALID_ARGUMENT", "message": "unknown event"}}
        try:
            return await handler(sid, args[1] if len(args) > 1 else None)
        except ProtocolError as exc:
            await self._error(sid, exc)
            return {"ok": False, "error": exc.payload()}
        except Exception:
            log.exception("widget event failed", extra={"event": event[:64]})
            error = ProtocolError("Internal server error", "INTERNAL")
            await self._error(sid, error)
            return {"ok": False, "error": error.payload()}

    async def _error(self, sid: str, error: ProtocolError) -> None:
        await self.emit("error", error.payload(), to=sid)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        """Handshake: refused with `{code, message}`, or accepted with `session` sent right after."""
        try:
            handshake = parse_handshake(auth, environ.get("HTTP_REFERER", ""))
            await self._hub.connect(sid, handshake, page_origin(environ))
        except ProtocolError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.payload()) from None
        except Refused as exc:
            body = {"code": exc.code, "message": exc.message}
            raise socketio.exceptions.ConnectionRefusedError(exc.message, body) from None
        except Exception:
            log.exception("widget connect failed")
            body = {"code": "UNAVAILABLE", "message": "the chat service is unavailable, try again"}
            raise socketio.exceptions.ConnectionRefusedError(body["message"], body) from None
        task = asyncio.create_task(self._after_connect(sid, handshake))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_connect(self, sid: str, handshake: Any) -> None:
        # The CONNECT packet goes out after on_connect returns; events sent earlier would be dropped.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CONNECTED_WAIT_SECONDS
        while not self.server.manager.is_connected(sid, NAMESPACE):
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.005)
        try:
            await self._hub.after_connect(sid, handshake)
        except Exception:
            log.exception("widget session set-up failed")

    async def on_disconnect(self, sid: str, reason: object = None) -> None:
        """Forgets the socket; its answers keep streaming to its conversation room."""
        await self._hub.disconnect(sid)

    async def on_message_send(self, sid: str, payload: object) -> dict[str, Any]:
        """`message:send` → CreateConversation (first time) and SendMessage; acks with the answer's id."""
        request = parse_send(payload)
        if request.client_message_id:  # the answer's events carry it too, so the widget's id finds the logs
            request_id_var.set(request_id_or_new(request.client_message_id))
        return await self._hub.send(sid, request)

    async def on_typing_start(self, sid: str, payload: object) -> None:
        """`typing:start`, relayed to the conversation room."""
        await self._hub.typing(sid, "typing:start")

    async def on_typing_stop(self, sid: str, payload: object) -> None:
        """`typing:stop`, relayed to the conversation room."""
        await self._hub.typing(sid, "typing:stop")

    async def on_avatar_interaction(self, sid: str, payload: object) -> None:
        """`avatar:interaction`, validated and recorded."""
        await self._hub.interaction(sid, parse_interaction(payload))

    async def on_conversation_end(self, sid: str, payload: object) -> dict[str, Any]:
        """`conversation:end` → EndConversation."""
        return await self._hub.end(sid)

    async def close(self) -> None:
        """Cancels pending session set-ups."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
