"""Asset delivery routes (edge/assets.py) mounted in a Starlette app over a real local object store."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from edge.assets import IMMUTABLE, asset_routes
from services.runtime.object_store import LocalObjectStore, model_key, preview_key, sha256_hex

MODEL = (b"glTF" + bytes(range(256))) * 200  # compressible, 52 kB
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an app serving only the asset routes, with one model and its preview stored."""
    store = LocalObjectStore(tmp_path / "objects")
    sha = sha256_hex(MODEL)
    await store.put(model_key(sha), MODEL, "model/gltf-binary")
    await store.put(preview_key(sha), PNG, "image/png")
    app = Starlette(routes=asset_routes(store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cdn.test") as http:
        yield http, sha


async def test_models_are_immutable_with_a_strong_etag_and_cors(client: tuple[httpx.AsyncClient, str]) -> None:
    http, sha = client
    response = await http.get(f"/models/{sha}.glb", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == MODEL
    assert response.headers["content-type"] == "model/gltf-binary"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["etag"] == f'"{sha}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "etag" in response.headers["access-control-expose-headers"]
    assert response.headers["content-length"] == str(len(MODEL))
    assert "content-encoding" not in response.headers
    head = await http.head(f"/models/{sha}.glb", headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(MODEL))
    cached = await http.get(f"/models/{sha}.glb", headers={"if-none-match": f'"{sha}"'})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == f'"{sha}"'
    assert (await http.get(f"/models/{sha}.glb", headers={"if-none-match": '"other"'})).status_code == 200


async def test_range_requests(client: tuple[httpx.AsyncClient, str]) -> None:
    http, sha = client
    url = f"/models/{sha}.glb"
    part = await http.get(url, headers={"range": "bytes=10-19", "accept-encoding": "gzip"})
    assert part.status_code == 206
    assert part.content == MODEL[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(MODEL)}"
    assert "content-encoding" not in part.headers  # ranges address the stored bytes
    tail = await http.get(url, headers={"range": "bytes=-4"})
    assert tail.status_code == 206
    assert tail.content == MODEL[-4:]
    rest = await http.get(url, headers={"range": f"bytes={len(MODEL) - 3}-"})
    assert rest.content == MODEL[-3:]
    beyond = await http.get(url, headers={"range": f"bytes={len(MODEL)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(MODEL)}"
    several = await http.get(url, headers={"range": "bytes=0-1,5-6", "accept-encoding": "identity"})
    assert several.status_code == 200
    assert several.content == MODEL
    stale = await http.get(url, headers={"range": "bytes=0-1", "if-range": '"old"', "accept-encoding": "identity"})
    assert stale.status_code == 200


async def test_gzip_for_large_models_when_accepted(client: tuple[httpx.AsyncClient, str]) -> None:
    http, sha = client
    response = await http.get(f"/models/{sha}.glb", headers={"accept-encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] == f'"{sha}.gz"'  # a different representation, a different strong tag
    assert int(response.headers["content-length"]) < len(MODEL)
    assert response.content == MODEL  # httpx decodes it
    raw = await http.get(f"/models/{sha}.glb", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in raw.headers
    gz_cached = await http.get(f"/models/{sha}.glb", headers={"if-none-match": f'"{sha}.gz"'})
    assert gz_cached.status_code == 304
    assert gzip.decompress(gzip.compress(MODEL)) == MODEL


async def test_previews_under_both_urls_and_cors_preflight(client: tuple[httpx.AsyncClient, str]) -> None:
    http, sha = client
    for url in (f"/previews/{sha}.png", f"/models/{sha}.preview.png"):
        response = await http.get(url, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200, url
        assert response.content == PNG
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == IMMUTABLE
        assert "content-encoding" not in response.headers  # PNG is compressed already
    preflight = await http.options(
        f"/models/{sha}.glb",
        headers={"origin": "https://shop.example", "access-control-request-method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "range" in preflight.headers["access-control-allow-headers"]


async def test_missing_and_malformed_assets_are_404(client: tuple[httpx.AsyncClient, str]) -> None:
    http, _ = client
    for url in (
        f"/models/{'0' * 64}.glb",
        "/models/not-a-hash.glb",
        f"/models/{'A' * 64}.glb",
        f"/previews/{'0' * 64}.png",
        f"/animations/{'0' * 64}.glb",
    ):
        response = await http.get(url)
        assert response.status_code == 404, url
        assert response.headers["access-control-allow-origin"] == "*"
    # A path that tries to climb out matches no asset route at all.
    assert (await http.get("/models/..%2f..%2fetc%2fpasswd")).status_code == 404


async def test_animation_library_is_revalidated_json(client: tuple[httpx.AsyncClient, str]) -> None:
    http, _ = client
    response = await http.get("/animations/library.json")
    assert response.status_code == 200
    names = [b["name"] for b in response.json()["behaviours"]]
    assert names[:3] == ["idle", "talk", "listen"]
    assert len(names) == 20
    assert "immutable" not in response.headers["cache-control"]
    again = await http.get("/animations/library.json", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
