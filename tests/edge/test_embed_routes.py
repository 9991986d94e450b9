"""GET /embed.js, /widget/*, /demo on the full edge, and the public embed config through REST transcoding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edge.embed_routes import is_hashed
from services.cli.seed import DEMO_GREETING, seed_demo
from tests.edge.conftest import edge_settings_for
from tests.edge.widget_harness import Bot, RunningFullEdge, serve_full_edge
from tests.services.conftest import Stack

LOADER = b"(()=>{/* embed loader */})();\n"
CHUNK = b"export const x = 1;\n"


@pytest.fixture(scope="module")
async def static_edge(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningFullEdge]:
    """A full edge serving a scratch widget build and demo template."""
    root = tmp_path_factory.mktemp("widget")
    (root / "dist" / "chunks").mkdir(parents=True)
    (root / "dist" / "embed.js").write_bytes(LOADER)
    (root / "dist" / "chunks" / "chunk-ALU6PMRL.js").write_bytes(CHUNK)
    (root / "dist" / "widget.js").write_bytes(CHUNK)
    (root / "dist" / ".secret").write_bytes(b"no")
    (root / "demo").mkdir()
    (root / "demo" / "index.html").write_text("<html><body><h1>demo</h1>{{EMBED_SNIPPET}}</body></html>")
    settings = edge_settings_for(
        stack.settings, widget_dist_dir=root / "dist", widget_demo_page=root / "demo" / "index.html"
    )
    async with serve_full_edge(settings) as edge:
        yield edge


@pytest.fixture
async def http(static_edge: RunningFullEdge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=static_edge.url, timeout=30.0) as client:
        yield client


async def test_embed_js_is_cached_briefly_with_an_etag(http: httpx.AsyncClient) -> None:
    response = await http.get("/embed.js")
    assert response.status_code == 200
    assert response.content == LOADER
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=300"
    etag = response.headers["etag"]
    assert etag.startswith('"')
    again = await http.get("/embed.js", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (await http.get("/embed.js", headers={"if-none-match": '"other"'})).status_code == 200


async def test_widget_files_hashed_names_are_immutable(http: httpx.AsyncClient) -> None:
    hashed = await http.get("/widget/chunks/chunk-ALU6PMRL.js")
    assert hashed.status_code == 200
    assert hashed.content == CHUNK
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await http.get("/widget/widget.js")
    assert plain.headers["cache-control"] == "public, max-age=300"
    for path in (
        "/widget/missing.js",
        "/widget/.secret",
        "/widget/../demo/index.html",
        "/widget/%2e%2e/demo/index.html",
    ):
        assert (await http.get(path)).status_code == 404, path


def test_hashed_names() -> None:
    assert is_hashed("chunk-ALU6PMRL.js")
    assert is_hashed("stage3d-AWIO3L6U.js")
    assert is_hashed("app.3f2a9c1b.css")
    assert is_hashed("chunk-ABCDEFGH.js.map")
    assert not is_hashed("widget.js")
    assert not is_hashed("embed.js")
    assert not is_hashed("my-component.js")
    assert not is_hashed("draco_decoder.wasm")


async def test_demo_page_embeds_the_seeded_bot(stack: Stack, http: httpx.AsyncClient) -> None:
    summary = await seed_demo(stack.settings)
    assert await seed_demo(stack.settings) == summary  # idempotent: no second bot
    embed_id = summary.rsplit("embed id ", 1)[1].rstrip(")")
    page = await http.get("/demo")
    assert page.status_code == 200, page.text
    assert "<h1>demo</h1>" in page.text
    assert f'data-embed-id="{embed_id}"' in page.text
    assert "{{EMBED_SNIPPET}}" not in page.text
    config = await http.get(f"/v1/embed/{embed_id}/config")
    assert config.status_code == 200
    assert config.json()["greeting"] == DEMO_GREETING
    assert config.json()["embedId"] == embed_id


async def test_embed_config_through_rest(http: httpx.AsyncClient, widget_bot: Bot) -> None:
    response = await http.get(f"/v1/embed/{widget_bot.embed_id}/config")
    assert response.status_code == 200
    body = response.json()
    assert body["embedId"] == widget_bot.embed_id
    assert body["greeting"] == "Hi there!"
    assert body["placement"]["allowedDomains"] == []  # never sent to browsers
    assert "instructions" not in response.text
    missing = await http.get("/v1/embed/emb_AAAAAAAAAAAAAAAAAAAAAA/config")
    assert missing.status_code == 404


def test_demo_template_placeholder_exists() -> None:
    template = Path(__file__).resolve().parents[2] / "widget" / "demo" / "index.html"
    if template.exists():
        assert "{{EMBED_SNIPPET}}" in template.read_text()
