"""A stand-in edge for widget tests: serves widget/dist, an embed config and a GLB over HTTP, and speaks
widget/PROTOCOL.md over a real python-socketio server with scripted answers."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

# python-socketio ships no type information; the protocol surface used here is small.
socketio: Any = importlib.import_module("socketio")

EMBED_ID = "emb_widgetTestAAAAAAAAAAAAA"
NAMESPACE = "/widget"
CONVERSATION = "tenants/t1/chatbots/c1/conversations/v1"
CITATION = {
    "index": 1,
    "title": "Shipping policy",
    "url": "https://docs.example.com/shipping",
    "snippet": "Orders ship within two days.",
    "document": "tenants/t1/knowledgeBases/k1/documents/d1",
}
#: The scripted answer, as the chunks the edge streams; "**there**" checks Markdown, [1] a citation.
ANSWER_CHUNKS = ("Hello ", "**there**", ", orders ship fast [1].")
#: A visitor message the bot takes its time over: a pause before the first chunk, then a slow answer whose every
#: chunk carries its mouth shapes and no gesture, so the avatar's talk loop and lip sync have seconds to show.
SLOW_QUESTION = "Take your time"
SLOW_CHUNKS = ("Well, ", "let me ", "think about ", "that ", "for a ", "moment.")
SLOW_VOWELS = ("aa", "O", "E")
SLOW_PAUSE_S = 1.5
SLOW_CHUNK_S = 0.4
GREETING = "Hi! Ask me anything."
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".glb": "model/gltf-binary"}


@dataclass(frozen=True)
class Embed:
    """A further bot the scripted edge serves beside EMBED_ID's, for tests of what its config or session decides."""

    model: Path
    """Its avatar, served at /models/{embed id}.glb."""
    changes: Mapping[str, Any] = field(default_factory=dict)
    """Changes to embed_config()'s fields, merged into nested objects; None removes a field."""
    session_greeting: str = GREETING
    """The greeting its `session` event carries."""
    agent_typing: bool = False
    """A human agent in the conversation room types back while the visitor types (typing:start/stop from "agent")."""


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied: nested objects merge, None removes a key."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def embed_config(model_url: str, embed_id: str = EMBED_ID) -> dict[str, Any]:
    """EmbedConfig as the edge's proto JSON renders it (lowerCamelCase, enums by name)."""
    return {
        "embedId": embed_id,
        "botName": "Ava Test",
        "greeting": GREETING,
        "language": "en",
        "avatarModelUrl": model_url,
        "animations": [
            {"behaviour": "BEHAVIOUR_NOD", "clip": "nod"},
            {"behaviour": "BEHAVIOUR_GREET", "clip": "greet"},
        ],
        "visemeMorphs": {},
        "placement": {
            "position": "POSITION_BOTTOM_RIGHT",
            "offsetXPx": 24,
            "offsetYPx": 24,
            "theme": {"primaryColor": "#0f766e", "backgroundColor": "#ffffff", "textColor": "#111827"},
            "launcherStyle": "LAUNCHER_STYLE_BUBBLE",
            "showOnMobile": True,
            "excludePaths": ["/private/**"],
        },
        "configVersion": "v1",
    }


@dataclass
class EdgeLog:
    """What the widget did, for assertions."""

    auths: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)


class WidgetNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """The `/widget` namespace with a scripted bot: echoes the visitor, then streams one answer."""

    def __init__(self, log: EdgeLog, embeds: Mapping[str, Embed]) -> None:
        super().__init__(NAMESPACE)
        self.log = log
        self.embeds = embeds
        #: The further embed each socket connected to, if it was one.
        self.embed_of: dict[str, Embed] = {}
        self.seen: dict[str, str] = {}
        #: Answers cut off by a dropped connection, by message id: (sid, chunks).
        self.cut: dict[str, list[str]] = {}
        #: clientMessageIds whose first delivery lost its ack; answered on the resend.
        self.unacked: set[str] = set()

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Protocol events are namespaced with ":" ("message:send"); handlers are `on_message_send`."""
        return await super().trigger_event(event.replace(":", "_"), *args)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> None:
        auth = auth or {}
        self.log.auths.append(auth)
        embed_id = str(auth.get("embedId", ""))
        if embed_id != EMBED_ID and embed_id not in self.embeds:
            raise socketio.exceptions.ConnectionRefusedError({"code": "NOT_FOUND", "message": "Unknown embed id"})
        if embed_id in self.embeds:
            self.embed_of[sid] = self.embeds[embed_id]
        await self.emit(
            "session",
            {
                "visitorId": auth.get("visitorId"),
                # Signatures are not checked here: a signed id is taken as the tenant's verified visitor.
                "verified": bool(auth.get("visitorSignature")),
                "conversation": auth.get("conversationId") or None,
                "chatbot": "tenants/t1/chatbots/c1",
                "greeting": self.embed_of[sid].session_greeting if sid in self.embed_of else GREETING,
                "resumed": bool(auth.get("conversationId")),
            },
            to=sid,
        )
        last = auth.get("lastChunk") or {}
        rest = self.cut.pop(str(last.get("messageId", "")), None)
        if rest is not None:  # resume: continue the cut answer after the last chunk the widget saw
            asyncio.get_running_loop().create_task(self.resume(sid, str(last["messageId"]), int(last["index"]), rest))

    async def drop_transport(self, sid: str) -> None:
        """Closes the WebSocket under the client as a network failure would; the client reconnects itself.

        A None in the Engine.IO socket's queue ends its writer, which closes the WebSocket without a
        CLOSE packet (eio.disconnect() would send one and make the client stay away).
        """
        socket = self.server.eio._get_socket(self.server.manager.eio_sid_from_sid(sid, NAMESPACE))
        await socket.queue.put(None)

    async def resume(self, sid: str, message_id: str, last_index: int, chunks: list[str]) -> None:
        for index in range(last_index + 1, len(chunks)):
            await self.emit("stream:chunk", {"messageId": message_id, "index": index, "text": chunks[index]}, to=sid)
        final = {"name": message_id, "role": "MESSAGE_ROLE_ASSISTANT", "text": "".join(chunks)}
        await self.emit("stream:end", {"messageId": message_id, "message": final}, to=sid)

    async def on_message_send(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        self.log.sent.append(data)
        client_id = str(data.get("clientMessageId", ""))
        if client_id in self.seen:  # idempotent: a resend gets the same message back
            if client_id in self.unacked:
                self.unacked.discard(client_id)
                number = int(self.seen[client_id].rsplit("q", 1)[1])
                asyncio.get_running_loop().create_task(self.answer(sid, number, self.seen[client_id], data))
            return {"ok": True, "messageId": self.seen[client_id]}
        number = len(self.seen) + 1
        visitor_name = f"{CONVERSATION}/messages/q{number}"
        self.seen[client_id] = visitor_name
        if data.get("text") == "lose the ack":
            self.unacked.add(client_id)
            await self.drop_transport(sid)
            return {"ok": True, "messageId": visitor_name}
        asyncio.get_running_loop().create_task(self.answer(sid, number, visitor_name, data))
        return {"ok": True, "messageId": visitor_name}

    async def answer(self, sid: str, number: int, visitor_name: str, data: dict[str, Any]) -> None:
        text = str(data.get("text", ""))
        visitor = {
            "name": visitor_name,
            "role": "MESSAGE_ROLE_VISITOR",
            "text": text,
            "requestId": data["clientMessageId"],
        }
        await self.emit("message:receive", {"message": visitor}, to=sid)
        message_id = f"{CONVERSATION}/messages/a{number}"
        if text == SLOW_QUESTION:
            await self.slow_answer(sid, message_id)
            return
        # Model output that echoes the visitor (hostile text included) must render as text too.
        chunks = [*ANSWER_CHUNKS, f" You said: {text}"]
        await self.emit(
            "stream:start", {"conversation": CONVERSATION, "messageId": message_id, "requestId": "r"}, to=sid
        )
        await self.emit("typing:stop", {"from": "assistant"}, to=sid)
        cues = [{"viseme": v, "startMs": 90 * i, "durationMs": 90} for i, v in enumerate(("PP", "aa", "E"))]
        for index, chunk in enumerate(chunks):
            if index == 2 and text == "drop the line":
                self.cut[message_id] = chunks
                await self.drop_transport(sid)
                return
            payload = {"messageId": message_id, "index": index, "text": chunk}
            # The first chunk carries its mouth shapes, as the edge sends them.
            await self.emit("stream:chunk", {**payload, "visemes": cues} if index == 0 else payload, to=sid)
            if index == 1:  # a duplicate delivery must not show twice
                await self.emit("stream:chunk", payload, to=sid)
                cue = {
                    "behaviour": "BEHAVIOUR_NOD",
                    "clip": "nod",
                    "intensity": 0.8,
                    "durationMs": 4000,
                    "changed": True,
                }
                await self.emit("avatar:animation", cue, to=sid)
            await asyncio.sleep(0.08)
        closing = [{"viseme": "sil", "startMs": 270, "durationMs": 90}]
        await self.emit("avatar:visemes", {"messageId": message_id, "cues": closing}, to=sid)
        await self.emit("message:citation", {"messageId": message_id, "citation": CITATION}, to=sid)
        final = {"name": message_id, "role": "MESSAGE_ROLE_ASSISTANT", "text": "".join(chunks), "citations": [CITATION]}
        await self.emit("stream:end", {"messageId": message_id, "message": final}, to=sid)

    async def slow_answer(self, sid: str, message_id: str) -> None:
        """Streams SLOW_CHUNKS after SLOW_PAUSE_S, each with its cues (~0.36 s of open vowels), SLOW_CHUNK_S apart."""
        await asyncio.sleep(SLOW_PAUSE_S)
        # No typing:stop here (the real edge sends none for the bot): the stream's start alone must end the dots.
        await self.emit(
            "stream:start", {"conversation": CONVERSATION, "messageId": message_id, "requestId": "r"}, to=sid
        )
        for index, chunk in enumerate(SLOW_CHUNKS):
            start = int(index * SLOW_CHUNK_S * 1000)
            cues = [{"viseme": v, "startMs": start + 120 * i, "durationMs": 120} for i, v in enumerate(SLOW_VOWELS)]
            payload = {"messageId": message_id, "index": index, "text": chunk, "visemes": cues}
            await self.emit("stream:chunk", payload, to=sid)
            await asyncio.sleep(SLOW_CHUNK_S)
        closing = [{"viseme": "sil", "startMs": int(len(SLOW_CHUNKS) * SLOW_CHUNK_S * 1000), "durationMs": 90}]
        await self.emit("avatar:visemes", {"messageId": message_id, "cues": closing}, to=sid)
        final = {"name": message_id, "role": "MESSAGE_ROLE_ASSISTANT", "text": "".join(SLOW_CHUNKS)}
        await self.emit("stream:end", {"messageId": message_id, "message": final}, to=sid)

    async def on_avatar_interaction(self, sid: str, data: dict[str, Any]) -> None:
        self.log.interactions.append(str(data.get("kind")))

    async def on_typing_start(self, sid: str, data: dict[str, Any]) -> None:
        if sid in self.embed_of and self.embed_of[sid].agent_typing:
            await self.emit("typing:start", {"from": "agent"}, to=sid)

    async def on_typing_stop(self, sid: str, data: dict[str, Any]) -> None:
        if sid in self.embed_of and self.embed_of[sid].agent_typing:
            await self.emit("typing:stop", {"from": "agent"}, to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.embed_of.pop(sid, None)


class AllowAnyOrigin:
    """CORS for every response: the page runs on another origin than the edge, as on a tenant's site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"access-control-allow-origin", b"*"))
            await send(message)

        await self.app(scope, receive, send_with_cors)


def build_app(
    dist: Path, model: Path, pages: dict[str, str], log: EdgeLog, embeds: Mapping[str, Embed] | None = None
) -> Any:
    """The ASGI app: Socket.io at /socket.io, static widget files, embed configs (EMBED_ID's and `embeds`'),
    their models and test pages."""
    embeds = dict(embeds or {})
    models = {"default": model, **{embed_id: embed.model for embed_id, embed in embeds.items()}}

    def static(path: Path) -> Response:
        if not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"))

    async def embed_js(request: Request) -> Response:
        return static(dist / "embed.js")

    async def widget_file(request: Request) -> Response:
        relative = Path(request.path_params["path"])
        if ".." in relative.parts:
            return Response(status_code=404)
        return static(dist / relative)  # as edge/embed_routes.py: /widget/{path} → dist/{path}

    async def config(request: Request) -> Response:
        embed_id = request.path_params["embed_id"]
        if embed_id == EMBED_ID:
            body = embed_config(f"{request.base_url}models/default.glb")
        elif embed_id in embeds:
            body = merged(embed_config(f"{request.base_url}models/{embed_id}.glb", embed_id), embeds[embed_id].changes)
        else:
            return JSONResponse({"error": {"code": 404, "status": "NOT_FOUND"}}, status_code=404)
        return Response(json.dumps(body), media_type="application/json")

    async def glb(request: Request) -> Response:
        found = models.get(request.path_params["name"])
        return static(found) if found else Response(status_code=404)

    async def page(request: Request) -> Response:
        return HTMLResponse(pages[request.path_params["name"]])

    routes = [
        Route("/embed.js", embed_js),
        Route("/widget/{path:path}", widget_file),
        Route("/v1/embed/{embed_id}/config", config),
        Route("/models/{name}.glb", glb),
        Route("/pages/{name}", page),
        Route("/private/{name}", page),  # excluded by the placement's excludePaths
    ]
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    sio.register_namespace(WidgetNamespace(log, embeds))
    return socketio.ASGIApp(sio, AllowAnyOrigin(Starlette(routes=routes)))


@contextmanager
def serve(app: Any) -> Iterator[int]:
    """Runs `app` under uvicorn on 127.0.0.1 and a free port in a thread; yields the port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the scripted edge did not start")
        threading.Event().wait(0.02)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
