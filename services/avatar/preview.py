"""Renders PNG previews of avatar GLB files with three.js in headless Chromium, driven by Playwright."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from playwright.async_api import Browser, Playwright, Route, async_playwright
from playwright.async_api import Error as PlaywrightError

#: The repository root; node_modules/ is installed there by the Makefile's `npm ci`.
REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = Path(__file__).resolve().parent / "preview_page"
THREE_DIR = REPO_ROOT / "node_modules" / "three"
#: Debian's Chromium; Playwright's own browser download cannot run here (no internet).
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a closed network (no background fetches) and WebGL on the CPU through SwiftShader.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)
# A made-up origin served only by the route handler below: nothing the page asks for leaves the browser,
# and no port is opened (a local HTTP server would be one more thing to start, bind and stop per worker).
_ORIGIN = "http://avatar-preview.invalid"
_MODEL_PATH = "/model.glb"
_MAX_SIDE = 4096
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DATA_URL_PREFIX = "data:image/png;base64,"
_CALL_PREFIX = re.compile(r"^\w+\.\w+: ")  # "Page.evaluate: " in front of the browser's message


class PreviewError(Exception):
    """A preview could not be rendered; the message carries the browser's own error."""


@dataclass(frozen=True)
class PreviewSettings:
    """How the renderer starts Chromium and how long it waits."""

    chromium: Path = DEFAULT_CHROMIUM
    """The Chromium executable."""
    timeout_seconds: float = 60.0
    """Longest one preview may take, loading the page and model included."""
    launch_timeout_seconds: float = 30.0
    """Longest Chromium may take to start."""
    max_concurrent_pages: int = 2
    """Pages rendering at once; SwiftShader keeps a core busy per page."""


class PreviewRenderer:
    """Keeps one headless Chromium alive for a worker and renders each preview in a fresh browser context."""

    def __init__(self, settings: PreviewSettings | None = None) -> None:
        """Prepares the renderer; Chromium starts on first use or on `start()`."""
        self._settings = settings or PreviewSettings()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._starting = asyncio.Lock()
        self._pages = asyncio.Semaphore(self._settings.max_concurrent_pages)
        self._files: dict[str, bytes] = {}

    async def __aenter__(self) -> Self:
        """Starts Chromium."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stops Chromium."""
        await self.close()

    async def start(self) -> Browser:
        """The running browser, launched (again, after a crash) when needed."""
        async with self._starting:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if not self._settings.chromium.exists():
                raise PreviewError(f"Chromium not found at {self._settings.chromium}: apt-get install -y chromium")
            if not (THREE_DIR / "build" / "three.module.js").is_file():
                raise PreviewError(f"three.js not found in {THREE_DIR}: run `npm ci` in {REPO_ROOT}")
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(self._settings.chromium),
                    args=list(CHROMIUM_ARGS),
                    timeout=self._settings.launch_timeout_seconds * 1000,
                )
            except PlaywrightError as error:
                raise PreviewError(f"Chromium did not start: {_first_line(error.message)}") from None
            return self._browser

    async def close(self) -> None:
        """Stops Chromium and Playwright's driver; safe to call twice."""
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            await browser.close()
        if playwright is not None:
            await playwright.stop()

    async def render(self, glb: bytes, width: int = 512, height: int = 512) -> bytes:
        """A PNG of the model, framed from the front in its idle pose, on a transparent background."""
        if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
            raise ValueError(f"preview size must be 1..{_MAX_SIDE} pixels a side, not {width}x{height}")
        browser = await self.start()
        async with self._pages:
            try:
                return await asyncio.wait_for(self._render(browser, glb, width, height), self._settings.timeout_seconds)
            except TimeoutError:
                raise PreviewError(f"preview timed out after {self._settings.timeout_seconds:g} s") from None

    async def _render(self, browser: Browser, glb: bytes, width: int, height: int) -> bytes:
        """Loads the page in a new context, renders once and decodes the canvas."""
        context = await browser.new_context(viewport={"width": width, "height": height})
        page_errors: list[str] = []
        try:
            context.set_default_timeout(self._settings.timeout_seconds * 1000)
            await context.route("**/*", lambda route: self._serve(route, glb))
            page = await context.new_page()
            page.on("pageerror", lambda error: page_errors.append(error.message))
            await page.goto(f"{_ORIGIN}/page/index.html")
            await page.wait_for_function("window.previewReady === true")
            result = await page.evaluate(
                "([url, w, h]) => window.renderAvatarPreview(url, w, h)", [f"{_ORIGIN}{_MODEL_PATH}", width, height]
            )
        except PlaywrightError as error:
            detail = "; ".join([_first_line(error.message), *page_errors])
            raise PreviewError(f"preview failed: {detail}") from None
        finally:
            await context.close()
        return _decode_png(result)

    async def _serve(self, route: Route, glb: bytes) -> None:
        """Answers the page's requests from the model bytes, preview_page/ and node_modules/three; refuses the rest."""
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != _ORIGIN:
            await route.abort("blockedbyclient")
            return
        if url.path == _MODEL_PATH:
            await route.fulfill(status=200, body=glb, headers={"content-type": "model/gltf-binary"})
            return
        body = await self._static(url.path)
        if body is None:
            await route.fulfill(status=404, body=f"not found: {url.path}")
            return
        content_type = mimetypes.guess_type(url.path)[0] or "application/octet-stream"
        if url.path.endswith((".js", ".mjs")):
            content_type = "text/javascript"  # module scripts are refused under any other type
        await route.fulfill(status=200, body=body, headers={"content-type": content_type})

    async def _static(self, path: str) -> bytes | None:
        """A file under preview_page/ (/page/...) or three's package (/three/...), cached for the worker's life."""
        if path in self._files:
            return self._files[path]
        prefix, _, rest = path.lstrip("/").partition("/")
        root = {"page": PAGE_DIR, "three": THREE_DIR}.get(prefix)
        if root is None or not rest:
            return None
        file = (root / rest).resolve()
        if not file.is_relative_to(root.resolve()) or not file.is_file():
            return None
        body = await asyncio.to_thread(file.read_bytes)
        self._files[path] = body
        return body


async def render_preview(
    glb: bytes, width: int = 512, height: int = 512, *, renderer: PreviewRenderer | None = None
) -> bytes:
    """A PNG preview of a GLB; pass a worker's long-lived renderer to skip starting Chromium per call."""
    if renderer is not None:
        return await renderer.render(glb, width, height)
    async with PreviewRenderer() as own:
        return await own.render(glb, width, height)


def _decode_png(result: object) -> bytes:
    """The PNG bytes of the page's `{png: dataURL}` answer."""
    url = result.get("png") if isinstance(result, dict) else None
    if not isinstance(url, str) or not url.startswith(_DATA_URL_PREFIX):
        raise PreviewError("the preview page returned no PNG")
    png = base64.b64decode(url.removeprefix(_DATA_URL_PREFIX))
    if not png.startswith(_PNG_SIGNATURE):
        raise PreviewError("the preview page returned data that is not a PNG")
    return png


def _first_line(message: str) -> str:
    """The first line of a Playwright message, without its call-log and stack lines."""
    line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return _CALL_PREFIX.sub("", line).removeprefix("Error: ")
