"""The chat panel in headless Chromium against the scripted edge: the typing indicator, the greeting, the theme and
corner from the bot's placement, and which visitor id the widget presents to the edge.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from services.avatar.default_avatar import build_default_avatar
from tests.browser.conftest import CHROMIUM
from tests.browser.scripted_edge import GREETING, SLOW_CHUNKS, SLOW_QUESTION, EdgeLog, Embed, build_app, serve
from tests.browser.test_widget_static import DIST, HOST, host_page, open_widget, send

EMBED_LEFT = "emb_widgetTestLeftThemeAAAA"
EMBED_SESSION_GREETING = "emb_widgetTestSessionGreetA"
EMBED_BOTH_GREETINGS = "emb_widgetTestBothGreetings"
EMBED_AGENT = "emb_widgetTestAgentTypesAAA"
SESSION_GREETING = "Welcome! This greeting came with the session."
#: EMBED_LEFT's placement: bottom left, 40 px in and 30 px up, a red theme.
LEFT_X, LEFT_Y, RED = 40, 30, "#b91c1c"
VIEWPORT_HEIGHT = 800
PAGE_VISITOR = "site-user-7"
PAGE_SIGNATURE = "9f" * 32

#: True once the answer streams (its bubble is busy and shows text) while the typing dots are hidden.
HIDDEN_WHILE_STREAMING = """host => { const root = document.querySelector(host).shadowRoot;
  const streaming = root.querySelector('.ac-msg-assistant[aria-busy="true"] .ac-body');
  return !!streaming?.textContent && getComputedStyle(root.querySelector('.ac-typing')).display === 'none'; }"""

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
    pytest.mark.skipif(not (DIST / "embed.js").exists(), reason="widget/dist is not built (npm run build:widget)"),
]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EdgeLog]]:
    """(page origin, log) of a scripted edge with the default bot and the variants above; pages by name."""
    model = tmp_path_factory.mktemp("avatar") / "default.glb"
    model.write_bytes(build_default_avatar())
    placement = {"position": "POSITION_BOTTOM_LEFT", "offsetXPx": LEFT_X, "offsetYPx": LEFT_Y}
    embeds = {
        EMBED_LEFT: Embed(model, {"placement": {**placement, "theme": {"primaryColor": RED}}}),
        EMBED_SESSION_GREETING: Embed(model, {"greeting": None}, session_greeting=SESSION_GREETING),
        EMBED_BOTH_GREETINGS: Embed(model, session_greeting=SESSION_GREETING),
        EMBED_AGENT: Embed(model, agent_typing=True),
    }
    pages: dict[str, str] = {}
    log = EdgeLog()
    with serve(build_app(DIST, model, pages, log, embeds)) as port:
        edge_origin = f"http://127.0.0.1:{port}"
        pages["host"] = host_page(edge_origin)
        for embed_id in embeds:
            pages[embed_id] = host_page(edge_origin, embed_id=embed_id)
        pages["unsigned"] = host_page(edge_origin, f' data-visitor-id="{PAGE_VISITOR}"')
        signed = f' data-visitor-id="{PAGE_VISITOR}" data-visitor-signature="{PAGE_SIGNATURE}"'
        pages["signed"] = host_page(edge_origin, signed)
        yield f"http://localhost:{port}", log


def open_online(page: Page, url: str) -> None:
    """Opens the widget and waits for its session with the edge."""
    open_widget(page, url)
    expect(page.locator(".ac-status")).to_have_text("Online", timeout=10000)


def test_typing_indicator_shows_until_the_first_chunk(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """The dots show from sending until the answer starts streaming, and stay hidden after."""
    open_online(page, f"{edge[0]}/pages/host")
    dots = page.locator(".ac-typing")
    expect(dots).to_be_hidden()
    send(page, SLOW_QUESTION)
    # The edge waits SLOW_PAUSE_S before the first chunk: the dots must show in that wait.
    expect(dots).to_be_visible()
    page.wait_for_function(HIDDEN_WHILE_STREAMING, arg=HOST, timeout=10000)
    expect(page.locator(".ac-msg-assistant").last).to_have_text("".join(SLOW_CHUNKS), timeout=15000)
    expect(dots).to_be_hidden()


def test_typing_in_the_room_shows_the_indicator(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """typing:start from someone else in the conversation room shows the dots; typing:stop hides them."""
    open_online(page, f"{edge[0]}/pages/{EMBED_AGENT}")
    dots = page.locator(".ac-typing")
    # This edge's agent types back while the visitor types; nothing is sent, so only the room can show the dots.
    page.locator("#ac-input").fill("Hel")
    expect(dots).to_be_visible()
    page.locator("#ac-input").fill("")
    expect(dots).to_be_hidden()


def test_greeting_from_the_config_shows_on_open(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """The bot's greeting from its embed config is the panel's first message on open, whatever the session says."""
    open_online(page, f"{edge[0]}/pages/{EMBED_BOTH_GREETINGS}")
    expect(page.locator(".ac-msg-assistant").first).to_have_text(GREETING)
    expect(page.locator(".ac-msg")).to_have_count(1)


def test_greeting_from_the_session_without_one_in_the_config(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """Without a greeting in the config, the one the edge's session event carries is shown."""
    open_widget(page, f"{edge[0]}/pages/{EMBED_SESSION_GREETING}")
    expect(page.locator(".ac-msg-assistant").first).to_have_text(SESSION_GREETING, timeout=10000)
    expect(page.locator(".ac-msg")).to_have_count(1)


def test_theme_colour_and_corner_follow_the_placement(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """A bottom-left placement with offsets and a primary colour puts launcher and panel there, in that colour."""
    page.goto(f"{edge[0]}/pages/{EMBED_LEFT}")
    launcher = page.locator(".ac-launcher")
    red = "rgb(185, 28, 28)"
    expect(launcher).to_have_css("background-color", red)
    box = launcher.bounding_box()
    assert box is not None
    assert box["x"] == pytest.approx(LEFT_X, abs=1)
    assert box["y"] + box["height"] == pytest.approx(VIEWPORT_HEIGHT - LEFT_Y, abs=1)
    launcher.click()
    panel = page.locator(".ac-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None
    assert box["x"] == pytest.approx(LEFT_X, abs=1)
    assert box["y"] + box["height"] == pytest.approx(VIEWPORT_HEIGHT - LEFT_Y, abs=1)
    expect(page.locator(".ac-header")).to_have_css("background-color", red)
    expect(page.locator(".ac-send")).to_have_css("background-color", red)


def test_unsigned_page_visitor_id_stays_anonymous(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """data-visitor-id without a signature: the widget presents its own anon_ id, never the page's."""
    open_online(page, f"{edge[0]}/pages/unsigned")
    auth = edge[1].auths[-1]
    assert str(auth["visitorId"]).startswith("anon_"), auth
    assert "visitorSignature" not in auth
    assert page.evaluate("localStorage.getItem('avatarchat:visitorId')") == auth["visitorId"]


def test_signed_page_visitor_id_is_presented(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """data-visitor-id with data-visitor-signature: the widget presents both, for the edge to verify."""
    open_online(page, f"{edge[0]}/pages/signed")
    auth = edge[1].auths[-1]
    assert auth["visitorId"] == PAGE_VISITOR
    assert auth["visitorSignature"] == PAGE_SIGNATURE
    # The tenant's id is not this browser's anonymous one: it is not stored as such.
    assert page.evaluate("localStorage.getItem('avatarchat:visitorId')") is None
