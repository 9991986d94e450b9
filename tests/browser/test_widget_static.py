"""The built widget (widget/dist) in headless Chromium against a scripted edge on loopback.

The page is served from http://localhost:PORT and the edge from http://127.0.0.1:PORT, so every widget
request is cross-origin, as on a tenant's site. Debug hooks on the <avatarchat-widget> host element
(read-only, documented in widget/README.md): data-state (closed|open), data-mode
(launcher|loading|3d|2d), data-clip (the playing clip), data-fps, data-viseme-cues (lip-sync cues taken); the
avatar's pose hooks (data-mouth, data-blink, data-mix) are tested in test_widget_avatar.py.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Dialog, Page, Playwright, expect

from services.avatar.default_avatar import build_default_avatar
from tests.browser.conftest import ARGS, CHROMIUM
from tests.browser.scripted_edge import CITATION, CONVERSATION, EMBED_ID, EdgeLog, build_app, serve

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "widget" / "dist"
SCREENSHOT = Path("/tmp/widget.png")
HOST = "avatarchat-widget"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
    pytest.mark.skipif(not (DIST / "embed.js").exists(), reason="widget/dist is not built (npm run build:widget)"),
]


def snippet(edge: str, extra: str = "", embed_id: str = EMBED_ID) -> str:
    return f'<script async src="{edge}/embed.js?id={embed_id}" data-embed-id="{embed_id}"{extra}></script>'


def host_page(edge: str, extra: str = "", embed_id: str = EMBED_ID) -> str:
    """A plain host page that records its globals before the snippet runs."""
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>host</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<script>window.__before = Object.keys(window);</script></head>"
        f"<body><h1>Host</h1>{snippet(edge, extra, embed_id)}</body></html>"
    )


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EdgeLog]]:
    """(page origin, log) of a scripted edge serving the built widget; pages at /pages/host, /pages/demo."""
    model = tmp_path_factory.mktemp("avatar") / "default.glb"
    model.write_bytes(build_default_avatar())
    pages: dict[str, str] = {}
    log = EdgeLog()
    with serve(build_app(DIST, model, pages, log)) as port:
        edge_origin = f"http://127.0.0.1:{port}"
        pages["host"] = host_page(edge_origin)
        # A frame-rate floor no machine reaches: the widget must switch to 2D after its probe.
        pages["slow"] = host_page(edge_origin, ' data-min-fps="100000"')
        demo = (ROOT / "widget" / "demo" / "index.html").read_text()
        pages["demo"] = demo.replace("{{EMBED_SNIPPET}}", snippet(edge_origin))
        yield f"http://localhost:{port}", log


def host_attr(page: Page, name: str) -> str | None:
    return page.locator(HOST).get_attribute(name)


#: Records each text the answer being streamed shows: its bubble is aria-busy until the stored answer replaces it.
WATCH_STREAMING = """host => { window.__streamed = [];
  const root = document.querySelector(host).shadowRoot;
  new MutationObserver(() => {
    for (const body of root.querySelectorAll('.ac-msg-assistant[aria-busy="true"] .ac-body')) {
      const seen = window.__streamed;
      if (body.textContent && seen[seen.length - 1] !== body.textContent) seen.push(body.textContent);
    }
  }).observe(root, {subtree: true, childList: true, characterData: true, attributes: true}); }"""


def grew_into(streamed: list[str], final: str, key: Callable[[str], str] = str.rstrip) -> None:
    """Asserts the streamed texts are at least two, each longer than the last and a start of the final text."""
    assert len(streamed) >= 2, f"the answer did not grow while streaming: {streamed}"
    shown = [key(text) for text in streamed]
    assert all(len(a) < len(b) for a, b in itertools.pairwise(shown)), streamed
    assert all(key(final).startswith(text) for text in shown), (streamed, final)


#: Hides the stage's 3D canvas (or shows it again), leaving the stage's own CSS background.
HIDE_CANVAS = "(canvas, hidden) => { canvas.style.visibility = hidden ? 'hidden' : ''; }"


def canvas_share(drawn: bytes, bare: bytes) -> float:
    """The share of the stage's pixels that its canvas changes: screenshots with the canvas and with it hidden.

    The renderer's canvas is transparent where it draws nothing, so a canvas that draws nothing scores 0 however
    colourful the stage's background is.
    """
    with_canvas = Image.open(io.BytesIO(drawn)).convert("RGB")
    without = Image.open(io.BytesIO(bare)).convert("RGB")
    diff = ImageChops.difference(with_canvas, without).convert("L")
    changed = sum(count for level, count in enumerate(diff.histogram()) if level > 16)
    return changed / (diff.width * diff.height)


def assert_canvas_draws(page: Page) -> None:
    """The 3D canvas, a moment after it appeared, draws on more than 5 % of the stage (see canvas_share)."""
    page.wait_for_timeout(1200)
    stage, canvas = page.locator(".ac-stage"), page.locator(".ac-stage canvas")
    drawn = stage.screenshot()
    canvas.evaluate(HIDE_CANVAS, True)
    bare = stage.screenshot()
    canvas.evaluate(HIDE_CANVAS, False)
    share = canvas_share(drawn, bare)
    assert share > 0.05, f"the canvas draws on {share:.1%} of the stage"


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.locator(".ac-launcher").click()
    expect(page.locator(HOST)).to_have_attribute("data-state", "open")


def send(page: Page, text: str) -> None:
    page.locator("#ac-input").fill(text)
    page.locator("#ac-input").press("Enter")


def test_launcher_shows_before_widget_js_loads(page: Page, edge: tuple[str, EdgeLog]) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{edge[0]}/pages/host")
    expect(page.locator(".ac-launcher")).to_be_visible()
    assert any("/v1/embed/" in url for url in requests)
    assert not [url for url in requests if "/widget/" in url], requests
    # No global pollution beyond the one namespaced API.
    added = page.evaluate("Object.keys(window).filter(k => k !== '__before' && !window.__before.includes(k))")
    assert added == ["AvatarChat"]
    assert page.evaluate(f"!!document.querySelector('{HOST}').shadowRoot")


def test_site_script_opens_the_widget(page: Page, edge: tuple[str, EdgeLog]) -> None:
    page.goto(f"{edge[0]}/pages/host")
    expect(page.locator(".ac-launcher")).to_be_visible()
    page.evaluate(f"AvatarChat.open('{EMBED_ID}')")
    expect(page.locator(HOST)).to_have_attribute("data-state", "open")
    expect(page.locator(".ac-launcher")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#ac-input")).to_be_focused()


def test_open_renders_the_avatar(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/host")
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    assert_canvas_draws(page)
    assert host_attr(page, "data-clip") in {"idle", "greet"}
    # The frame-rate probe (3 s of rendering) keeps the 3D view on this machine's SwiftShader.
    expect(page.locator(HOST)).to_have_attribute("data-fps", re.compile(r"^\d+$"), timeout=10000)
    assert host_attr(page, "data-mode") == "3d", host_attr(page, "data-fallback-reason")
    print("fps:", host_attr(page, "data-fps"))


def test_streaming_markdown_citations_and_animation(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/host")
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    page.evaluate(WATCH_STREAMING, HOST)
    send(page, "How fast do you ship?")
    answer = page.locator(".ac-msg-assistant").last
    final = "Hello there, orders ship fast [1]. You said: How fast do you ship?"
    expect(answer.locator(".ac-body")).to_have_text(final, timeout=10000)
    # The text grew chunk by chunk before the stored answer replaced it, each chunk once and in order.
    grew_into(page.evaluate("window.__streamed"), final)
    expect(answer.locator("strong")).to_have_text("there")
    expect(page.locator(HOST)).to_have_attribute("data-clip", "nod")
    # Three cues rode in the first chunk and one closing cue followed the text: all reach the avatar once.
    expect(page.locator(HOST)).to_have_attribute("data-viseme-cues", "4")
    citation = answer.locator(".ac-citations li")
    expect(citation).to_contain_text(str(CITATION["title"]))
    link = citation.locator("a")
    assert link.get_attribute("href") == CITATION["url"]
    assert "noopener" in (link.get_attribute("rel") or "")
    expect(page.locator(".ac-msg-visitor")).to_have_text("How fast do you ship?")
    sent = edge[1].sent[-1]
    assert sent["text"] == "How fast do you ship?"
    assert len(str(sent["clientMessageId"])) >= 16
    auth = edge[1].auths[-1]
    assert auth["embedId"] == EMBED_ID
    assert str(auth["visitorId"]).startswith("anon_")
    stored = page.evaluate("localStorage.getItem('avatarchat:visitorId')")
    assert stored == auth["visitorId"]
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOT))


def test_resume_continues_after_the_last_chunk(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/host")
    send(page, "drop the line")
    answer = page.locator(".ac-msg-assistant").last
    expect(answer.locator(".ac-body")).to_have_text(
        "Hello there, orders ship fast [1]. You said: drop the line", timeout=15000
    )
    resumed = edge[1].auths[-1]
    assert resumed["conversationId"] == CONVERSATION
    assert resumed["lastChunk"] == {"messageId": f"{CONVERSATION}/messages/a{len(edge[1].sent)}", "index": 1}


def test_lost_ack_is_resent_under_the_same_client_message_id(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/host")
    before = len(edge[1].sent)
    send(page, "lose the ack")
    expect(page.locator(".ac-msg-assistant").last).to_contain_text("You said: lose the ack", timeout=15000)
    attempts = [s for s in edge[1].sent[before:] if s["text"] == "lose the ack"]
    assert len(attempts) == 2
    assert attempts[0]["clientMessageId"] == attempts[1]["clientMessageId"]
    expect(page.locator(".ac-msg-visitor")).to_have_count(1)


def test_html_in_messages_is_text(page: Page, edge: tuple[str, EdgeLog]) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_widget(page, f"{edge[0]}/pages/host")
    hostile = "<img src=x onerror=alert(1)> [x](javascript:alert(2))"
    send(page, hostile)
    answer = page.locator(".ac-msg-assistant").last
    expect(answer.locator(".ac-body")).to_contain_text(f"You said: {hostile}", timeout=10000)
    expect(page.locator(".ac-msg-visitor")).to_have_text(hostile)
    assert page.locator(".ac-log img").count() == 0
    assert page.locator(".ac-log a[href^='javascript']").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_keyboard_and_escape(page: Page, edge: tuple[str, EdgeLog]) -> None:
    page.goto(f"{edge[0]}/pages/host")
    expect(page.locator(".ac-launcher")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(".ac-launcher")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#ac-input")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#ac-input")).to_be_focused()
    page.keyboard.type("Hello by keyboard")
    page.keyboard.press("Enter")
    expect(page.locator(".ac-msg-visitor")).to_have_text("Hello by keyboard")
    expect(page.locator(".ac-msg-assistant").last).to_contain_text("You said: Hello by keyboard", timeout=10000)
    assert page.locator("button[aria-label='Close chat']").count() == 1
    assert page.locator("[role=log][aria-live=polite]").count() == 1
    page.keyboard.press("Escape")
    expect(page.locator(HOST)).to_have_attribute("data-state", "closed")
    expect(page.locator(".ac-panel")).to_be_hidden()
    expect(page.locator(".ac-launcher")).to_be_focused()


def test_hostile_host_css_does_not_leak_in(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/demo")
    panel = page.locator(".ac-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None
    assert 340 <= box["width"] <= 420
    font_size = page.locator("#ac-input").evaluate("e => getComputedStyle(e).fontSize")
    assert font_size == "14px"
    transform = page.locator(HOST).evaluate("e => getComputedStyle(e).transform")
    assert transform == "none"
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOT.with_name("widget-demo.png")))


def test_phone_gets_a_full_screen_panel(browser: Browser, edge: tuple[str, EdgeLog]) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{edge[0]}/pages/host")
        page.locator(".ac-launcher").tap()
        box = page.locator(".ac-panel").bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 700)
    finally:
        context.close()


def test_placement_excludes_a_path(page: Page, edge: tuple[str, EdgeLog]) -> None:
    config_loaded: list[str] = []
    page.on("requestfinished", lambda request: config_loaded.append(request.url))
    page.goto(f"{edge[0]}/private/host")
    page.wait_for_timeout(1000)
    assert any("/v1/embed/" in url for url in config_loaded)
    assert page.locator(HOST).count() == 0


def test_slow_frames_fall_back_to_2d(page: Page, edge: tuple[str, EdgeLog]) -> None:
    open_widget(page, f"{edge[0]}/pages/slow")
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    expect(page.locator(HOST)).to_have_attribute("data-mode", "2d", timeout=15000)
    assert "fps" in (host_attr(page, "data-fallback-reason") or "")
    expect(page.locator(".ac-2d-face")).to_be_visible()
    assert page.locator(".ac-stage canvas").count() == 0


def test_2d_fallback_without_webgl(playwright: Playwright, edge: tuple[str, EdgeLog]) -> None:
    no_gl = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, "--disable-webgl"])
    try:
        page = no_gl.new_page()
        open_widget(page, f"{edge[0]}/pages/host")
        expect(page.locator(HOST)).to_have_attribute("data-mode", "2d")
        expect(page.locator(".ac-2d-face")).to_have_text("AT")
        assert page.locator(".ac-stage canvas").count() == 0
        send(page, "Still there?")
        expect(page.locator(".ac-msg-assistant").last).to_contain_text("You said: Still there?", timeout=10000)
        expect(page.locator(HOST)).to_have_attribute("data-clip", "nod")
    finally:
        no_gl.close()
