"""The widget's static side: `/embed.js` (stable URL, short cache), `/widget/*` (hashed, immutable) and `/demo`.

Files are read once per change (mtime and size) and served with a strong ETag, so browsers and
CDNs revalidate with `If-None-Match` and get 304s. `/demo` embeds the seeded demo bot's snippet.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from edge.settings import EdgeSettings
from edge.state import EdgeState
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)

#: embed.js keeps its URL across releases, so caches may hold it only briefly.
LOADER_CACHE = "public, max-age=300"
#: A file whose name carries a content hash never changes under that name.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
#: Unhashed widget files (e.g. a source map without a hash).
SHORT_CACHE = "public, max-age=300"
#: esbuild's `chunk-ALU6PMRL.js` (8 base32 capitals) or a bundler's `app.3f2a9c1b.css` (8+ lowercase hex).
_HASHED = re.compile(r"(-[A-Z2-7]{8}|[.-][0-9a-f]{8,})\.[a-z0-9]+(\.map)?$")
_SNIPPET_SECONDS = 30.0
_PLACEHOLDER = "{{EMBED_SNIPPET}}"


def is_hashed(name: str) -> bool:
    """Whether a file name carries a content hash (and can be cached forever)."""
    return bool(_HASHED.search(name))


@dataclass(frozen=True)
class _Loaded:
    key: tuple[float, int]
    body: bytes
    etag: str


class StaticFiles:
    """Small files under one folder, cached in memory by mtime and size, with strong ETags."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._files: dict[Path, _Loaded] = {}

    def resolve(self, relative: str) -> Path | None:
        """The file under root, or None for anything outside it, hidden, or missing."""
        if not relative or any(part.startswith(".") for part in relative.split("/")):
            return None
        root = self._root.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def load(self, path: Path) -> _Loaded:
        """The file's bytes and ETag, re-read when it changed on disk."""
        stat = path.stat()
        key = (stat.st_mtime, stat.st_size)
        cached = self._files.get(path)
        if cached is None or cached.key != key:
            body = path.read_bytes()
            cached = _Loaded(key, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            self._files[path] = cached
        return cached

    def response(self, request: Request, path: Path, cache_control: str) -> Response:
        """200 with the file, or 304 when the client's ETag matches."""
        loaded = self.load(path)
        headers = {"cache-control": cache_control, "etag": loaded.etag, "access-control-allow-origin": "*"}
        if loaded.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media in ("text/javascript", "application/javascript"):
            media = "text/javascript; charset=utf-8"
        return Response(loaded.body, media_type=media, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _not_found(what: str) -> Response:
    return Response(f"{what} not found\n", status_code=404, media_type="text/plain; charset=utf-8")


class DemoSnippet:
    """The demo tenant's first chatbot's embed snippet, looked up with a service token and cached briefly."""

    def __init__(self, settings: EdgeSettings) -> None:
        self._settings = settings
        self._cached: tuple[float, str] | None = None

    async def snippet(self, state: EdgeState) -> str | None:
        """The snippet, or None when the demo tenant or its bot does not exist (yet)."""
        now = time.monotonic()
        if self._cached is not None and self._cached[0] > now:
            return self._cached[1]
        tokens = ServiceTokens(self._settings.resolved_internal_secret(), "edge")
        tenants = tenant_pb2_grpc.TenantServiceStub(state.clients.channel("tenant"))
        bots = chatbot_pb2_grpc.ChatbotServiceStub(state.clients.channel("chatbot"))
        try:
            tenant = await tenants.LookupTenant(tenant_pb2.LookupTenantRequest(slug=self._settings.demo_tenant_slug))
            metadata = tokens.metadata(uuid.UUID(tenant.name.removeprefix("tenants/")))
            listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=tenant.name), metadata=metadata)
            if not listed.chatbots:
                return None
            script = await bots.GetEmbedScript(
                chatbot_pb2.GetEmbedScriptRequest(name=listed.chatbots[0].name), metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("demo snippet unavailable", extra={"code": exc.code().name})
            return None
        self._cached = (now + _SNIPPET_SECONDS, script.snippet)
        return script.snippet


def embed_routes(settings: EdgeSettings) -> list[BaseRoute]:
    """GET /embed.js, /widget/{path}, /demo."""
    dist = StaticFiles(settings.widget_dist_dir)
    demo = DemoSnippet(settings)

    async def embed_js(request: Request) -> Response:
        path = dist.resolve("embed.js")
        return _not_found("embed.js (build the widget)") if path is None else dist.response(request, path, LOADER_CACHE)

    async def widget_file(request: Request) -> Response:
        relative = str(request.path_params["path"])
        path = dist.resolve(relative)
        if path is None:
            return _not_found("widget file")
        return dist.response(request, path, IMMUTABLE_CACHE if is_hashed(path.name) else SHORT_CACHE)

    async def demo_page(request: Request) -> Response:
        template_path = settings.widget_demo_page
        if not template_path.is_file():
            return _not_found("demo page (widget/demo/index.html)")
        template = template_path.read_text(encoding="utf-8")
        snippet = await demo.snippet(request.app.state.edge)
        if snippet is None:
            note = "<!-- no demo chatbot yet: run `avatarchat seed` -->"
            body = template.replace(_PLACEHOLDER, note)
            return HTMLResponse(body, status_code=503, headers={"cache-control": "no-store", "retry-after": "5"})
        # The snippet is one <script> tag built by the chatbot service from validated ids and our base URL.
        return HTMLResponse(template.replace(_PLACEHOLDER, snippet), headers={"cache-control": "no-store"})

    return [
        Route("/embed.js", embed_js, methods=["GET", "HEAD"]),
        Route("/widget/{path:path}", widget_file, methods=["GET", "HEAD"]),
        Route("/demo", demo_page, methods=["GET", "HEAD"]),
    ]
