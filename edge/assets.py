"""Content-addressed asset delivery: models, previews and animation clip packs, CDN- and browser-cacheable.

Routes (GET, HEAD, OPTIONS):
- `/models/{sha256}.glb` — an uploaded or optimized model (object `models/{sha256}.glb`).
- `/models/{sha256}.preview.png` and `/previews/{sha256}.png` — the preview of that model
  (object `previews/{sha256}.png`; the first form is the URL avatar.proto's `Preview.url` uses).
- `/animations/{sha256}.glb` — an animation-only GLB (clip pack, object `animations/{sha256}.glb`) that the
  widget can retarget onto any rig; content-addressed like models.
- `/animations/library.json` — the behaviour library (name, enum value, description) the widget uses to
  label and fall back between behaviours; not content-addressed, so it is revalidated (ETag) hourly.

A content-addressed URL never changes its bytes, so it is `immutable` for a year and its strong ETag is the
hash. Range requests (one range) answer 206/416 for streaming loaders; gzip is offered for large models
when the client accepts it and no range is asked (ranges address the stored bytes). CORS is open: the
widget runs on tenants' own sites and the assets are public by their unguessable hashes.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.avatar.behaviours import BEHAVIOURS
from services.runtime.object_store import ObjectStore

IMMUTABLE = "public, max-age=31536000, immutable"
LIBRARY_CACHE = "public, max-age=3600"
GLB = "model/gltf-binary"
PNG = "image/png"
#: Bodies at least this large are gzipped for clients that accept it (smaller ones gain nothing).
GZIP_MIN_BYTES = 1024
#: Larger bodies are sent as stored: compressing them per request would cost more than the CDN saves.
GZIP_MAX_BYTES = 16 * 1024 * 1024
_SHA = r"(?P<sha>[0-9a-f]{64})"
_MODEL = re.compile(rf"^{_SHA}\.glb$")
_MODEL_PREVIEW = re.compile(rf"^{_SHA}\.preview\.png$")
_PREVIEW = re.compile(rf"^{_SHA}\.png$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "content-length, content-range, accept-ranges, etag",
}
_PREFLIGHT = {
    **CORS_HEADERS,
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "range, if-none-match, if-range",
    "access-control-max-age": "86400",
}


@dataclass(frozen=True)
class _Asset:
    key: str
    etag: str
    content_type: str
    compressible: bool


def _library_body() -> bytes:
    items = [{"name": b.name, "behaviour": b.enum_name, "description": b.description} for b in BEHAVIOURS]
    return json.dumps({"behaviours": items}, separators=(",", ":")).encode()


def _etag_matches(header: str, etags: set[str]) -> bool:
    """If-None-Match comparison (weak, as RFC 9110 says for it): `*` or any listed tag."""
    if header.strip() == "*":
        return True
    listed = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return bool(listed & etags)


def _byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(start, end inclusive) of a single satisfiable range; None to ignore the header; False if unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple ranges or another unit: the whole body is a valid answer
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return False
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # syntactically invalid: ignore, per RFC 9110
    if start >= size:
        return False
    return start, end


def _gzip_wanted(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


class AssetRoutes:
    """The handlers, bound to one object store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._library = _library_body()
        self._library_etag = f'"{hashlib.sha256(self._library).hexdigest()[:32]}"'

    def _model(self, file: str) -> _Asset | None:
        if match := _MODEL.match(file):
            return _Asset(f"models/{match['sha']}.glb", match["sha"], GLB, compressible=True)
        if match := _MODEL_PREVIEW.match(file):
            return _Asset(f"previews/{match['sha']}.png", match["sha"], PNG, compressible=False)
        return None

    def _preview(self, file: str) -> _Asset | None:
        match = _PREVIEW.match(file)
        return _Asset(f"previews/{match['sha']}.png", match["sha"], PNG, compressible=False) if match else None

    def _animation(self, file: str) -> _Asset | None:
        match = _MODEL.match(file)
        return _Asset(f"animations/{match['sha']}.glb", match["sha"], GLB, compressible=True) if match else None

    async def models(self, request: Request) -> Response:
        """`/models/{sha256}.glb` and `/models/{sha256}.preview.png`."""
        return await self._serve(request, self._model(request.path_params["file"]))

    async def previews(self, request: Request) -> Response:
        """`/previews/{sha256}.png`."""
        return await self._serve(request, self._preview(request.path_params["file"]))

    async def animations(self, request: Request) -> Response:
        """`/animations/{sha256}.glb` and `/animations/library.json`."""
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_PREFLIGHT)
        if request.path_params["file"] == "library.json":
            headers = {**CORS_HEADERS, "cache-control": LIBRARY_CACHE, "etag": self._library_etag}
            if _etag_matches(request.headers.get("if-none-match", "") or "-", {self._library_etag}):
                return Response(status_code=304, headers=headers)
            body = b"" if request.method == "HEAD" else self._library
            headers["content-length"] = str(len(self._library))
            return Response(body, media_type="application/json", headers=headers)
        return await self._serve(request, self._animation(request.path_params["file"]))

    async def _serve(self, request: Request, asset: _Asset | None) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_PREFLIGHT)
        info = await self._store.head(asset.key) if asset is not None else None
        if asset is None or info is None:
            return Response(b"not found\n", status_code=404, media_type="text/plain", headers=CORS_HEADERS)
        etag = f'"{asset.etag}"'
        gz_etag = f'"{asset.etag}.gz"'
        headers = {**CORS_HEADERS, "cache-control": IMMUTABLE, "etag": etag, "accept-ranges": "bytes"}
        if asset.compressible:
            headers["vary"] = "Accept-Encoding"
        if _etag_matches(request.headers.get("if-none-match", "") or "-", {etag, gz_etag}):
            return Response(status_code=304, headers=headers)
        size = info.size
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if range_header and (if_range is None or if_range.strip() == etag):
            wanted = _byte_range(range_header, size)
            if wanted is False:
                headers["content-range"] = f"bytes */{size}"
                return Response(status_code=416, headers=headers)
            if isinstance(wanted, tuple):
                start, end = wanted
                headers["content-range"] = f"bytes {start}-{end}/{size}"
                headers["content-length"] = str(end - start + 1)
                body = (
                    b"" if request.method == "HEAD" else await self._store.get_range(asset.key, start, end - start + 1)
                )
                return Response(body, status_code=206, media_type=asset.content_type, headers=headers)
        if asset.compressible and GZIP_MIN_BYTES <= size <= GZIP_MAX_BYTES and _gzip_wanted(request):
            data = await self._store.get(asset.key)
            packed = await asyncio.to_thread(gzip.compress, data, 6, mtime=0)
            if len(packed) < size:
                headers |= {"content-encoding": "gzip", "etag": gz_etag, "content-length": str(len(packed))}
                body = b"" if request.method == "HEAD" else packed
                return Response(body, media_type=asset.content_type, headers=headers)
            headers["content-length"] = str(size)
            return Response(b"" if request.method == "HEAD" else data, media_type=asset.content_type, headers=headers)
        headers["content-length"] = str(size)
        body = b"" if request.method == "HEAD" else await self._store.get(asset.key)
        return Response(body, media_type=asset.content_type, headers=headers)


def asset_routes(store: ObjectStore) -> list[Route]:
    """The asset routes over `store`, for `create_app(settings, extra_routes=asset_routes(store))`."""
    handlers = AssetRoutes(store)
    methods = ["GET", "HEAD", "OPTIONS"]
    return [
        Route("/models/{file}", handlers.models, methods=methods),
        Route("/previews/{file}", handlers.previews, methods=methods),
        Route("/animations/{file}", handlers.animations, methods=methods),
    ]
