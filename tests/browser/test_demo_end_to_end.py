"""The demo, end to end: the real services, knowledge worker and assembled edge, driven by headless Chromium.

The page is the edge's own /demo, embedding the bot `avatarchat seed` seeds (under a fresh tenant slug), at
http://127.0.0.1:PORT/demo, one of the bot's allowed domains; for the refusal the browser reaches the same page as
http://elsewhere.example:PORT/demo. Socket.io traffic is observed page-side through Playwright's WebSocket
frames, the avatar through the host element's debug hooks (widget/README.md).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, async_playwright, expect

from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from tests.browser.conftest import ARGS, CHROMIUM, FAQ_TITLE, Platform
from tests.browser.test_widget_static import (
    DIST,
    HIDE_CANVAS,
    HOST,
    WATCH_STREAMING,
    canvas_share,
    grew_into,
)

#: A domain the seeded bot does not allow (the browser maps it to loopback).
ELSEWHERE = "elsewhere.example"

SCREENSHOT = Path("/tmp/e2e-widget.png")
QUESTION = "How do I embed a chatbot?"
NAMESPACE = "/widget"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
    pytest.mark.skipif(not (DIST / "embed.js").exists(), reason="widget/dist is not built (npm run build:widget)"),
]


class Frames:
    """Socket.io packets of the /widget namespace the page received, decoded from its WebSocket frames."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.connect_errors: list[Any] = []

    def attach(self, page: Page) -> None:
        """Starts recording the page's WebSockets."""
        page.on("websocket", self._socket)

    def _socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        text = payload.decode() if isinstance(payload, bytes) else payload
        # Engine.io message "4", then Socket.io: "2" EVENT / "4" CONNECT_ERROR, namespace, optional ack id.
        for kind, sink in (("42", None), ("44", self.connect_errors)):
            prefix = f"{kind}{NAMESPACE},"
            if not text.startswith(prefix):
                continue
            body = text[len(prefix) :].lstrip("0123456789")
            decoded = json.loads(body)
            if sink is None:
                self.events.append((decoded[0], decoded[1] if len(decoded) > 1 else None))
            else:
                sink.append(decoded)

    def of(self, name: str) -> list[Any]:
        """Payloads of one event, in arrival order."""
        return [payload for event, payload in self.events if event == name]

    async def wait_for(self, name: str, within: float = 30.0) -> Any:
        """The first payload of `name`, waiting for it."""
        for _ in range(int(within / 0.05)):
            if found := self.of(name):
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name!r} event; got {[e for e, _ in self.events]}")


@pytest.fixture(scope="package")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, one for the whole file (never `playwright install`)."""
    async with async_playwright() as p:
        # A domain the seeded bot does not allow, resolving to the edge like the others.
        rules = f"--host-resolver-rules=MAP {ELSEWHERE} 127.0.0.1"
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, rules])
        yield browser
        await browser.close()


def demo_page(platform: Platform, host: str = "127.0.0.1") -> str:
    """The edge's /demo page (what `make run` prints), under `host`: the seeded bot allows 127.0.0.1 and localhost."""
    return f"http://{host}:{platform.edge.settings.http_port}/demo"


@pytest.fixture
async def page(chromium: Browser) -> AsyncIterator[Page]:
    """A fresh context (empty localStorage) whose page must end without uncaught script errors."""
    context = await chromium.new_context(viewport={"width": 1100, "height": 800})
    p = await context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda error: errors.append(str(error)))
    yield p
    await context.close()
    assert errors == []


async def open_widget(page: Page, url: str) -> None:
    await page.goto(url)
    await page.locator(".ac-launcher").click()
    await expect(page.locator(HOST)).to_have_attribute("data-state", "open")


async def send(page: Page, text: str) -> None:
    await page.locator("#ac-input").fill(text)
    await page.locator("#ac-input").press("Enter")


async def test_launcher_first_then_the_avatar_from_the_edge(page: Page, platform: Platform) -> None:
    requests: list[str] = []
    models: list[tuple[str, int]] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("response", lambda response: models.append((response.url, response.status)))
    await page.goto(demo_page(platform))
    await expect(page.locator(".ac-launcher")).to_be_visible()
    await page.wait_for_timeout(500)
    assert await page.locator(HOST).get_attribute("data-mode") in {None, "launcher"}
    early = [url for url in requests if "/widget/chunks/" in url or "three" in url or "/models/" in url]
    assert early == [], early

    await page.locator(".ac-launcher").click()
    await expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=30000)
    assert any("/widget/chunks/stage3d-" in url for url in requests)
    glb = [(url, status) for url, status in models if url.startswith(f"{platform.edge.url}/models/")]
    assert glb, models
    assert all(url.endswith(".glb") and status in (200, 206) for url, status in glb), glb
    await page.wait_for_timeout(1200)
    stage, canvas = page.locator(".ac-stage"), page.locator(".ac-stage canvas")
    drawn = await stage.screenshot()
    await canvas.evaluate(HIDE_CANVAS, True)
    bare = await stage.screenshot()
    await canvas.evaluate(HIDE_CANVAS, False)
    share = canvas_share(drawn, bare)
    assert share > 0.05, f"the canvas draws on {share:.1%} of the stage"


async def test_question_streams_a_cited_answer_that_is_stored(page: Page, platform: Platform) -> None:
    frames = Frames()
    frames.attach(page)
    async with platform.edge_http() as http:
        config = (await http.get(f"/v1/embed/{platform.bot.embed_id}/config")).json()
    mapped = {binding["clip"] for binding in config["animations"] if binding.get("clip")}
    await open_widget(page, demo_page(platform))
    await expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=30000)
    await frames.wait_for("session")
    # Every clip the avatar plays, as the host element's data-clip hook reports it.
    await page.evaluate(
        """host => { window.__clips = [];
          new MutationObserver(() => window.__clips.push(document.querySelector(host).dataset.clip))
            .observe(document.querySelector(host), {attributes: true, attributeFilter: ['data-clip']}); }""",
        HOST,
    )
    await page.evaluate(WATCH_STREAMING, HOST)
    await send(page, QUESTION)
    end = await frames.wait_for("stream:end")
    answer = end["message"]["text"]
    assert "snippet" in answer.lower() or "allowed domains" in answer.lower(), answer
    shown = await page.locator(".ac-msg-assistant .ac-body").last.text_content() or ""
    # Compared by letters and digits: Markdown split across chunks shows its marks until the closing ones arrive.
    grew_into(await page.evaluate("window.__streamed"), shown, key=lambda text: re.sub(r"[^0-9A-Za-z]", "", text))
    chunks = frames.of("stream:chunk")
    assert len(chunks) >= 2
    assert [c["index"] for c in chunks] == list(range(len(chunks)))

    citation = page.locator(".ac-msg-assistant").last.locator(".ac-citations li")
    await expect(citation.first).to_contain_text(FAQ_TITLE, timeout=10000)
    # A citation's title is the document's title, then the heading path of the cited chunk.
    cited = [c["citation"] for c in frames.of("message:citation")]
    assert cited, [e for e, _ in frames.events]
    assert all(c["title"].startswith(FAQ_TITLE) for c in cited), cited
    assert any(c["title"] == f"{FAQ_TITLE} › {QUESTION}" for c in cited), cited

    animations = frames.of("avatar:animation")
    assert animations, [e for e, _ in frames.events]
    played = await page.evaluate("window.__clips")
    # A clip of a base state (talk while streaming, idle after) plays whatever the cue handler does: only a
    # gesture shows that the cue reached the avatar.
    gestures = {a["clip"] for a in animations} & mapped - {"idle", "listen", "think", "talk"}
    assert gestures, f"no gesture was cued: {animations}"
    assert gestures & set(played), f"cued {animations}, mapped {mapped}, played {played}"

    await page.wait_for_timeout(600)
    await page.screenshot(path=str(SCREENSHOT))

    conversation = frames.of("stream:start")[0]["conversation"]
    stub = conversation_pb2_grpc.ConversationServiceStub(platform.stack.channel("conversation"))
    listed = await stub.ListMessages(
        conversation_pb2.ListMessagesRequest(parent=conversation), metadata=platform.account.metadata
    )
    by_role = {m.role: m for m in listed.messages}
    visitor = by_role[conversation_pb2.MESSAGE_ROLE_VISITOR]
    assistant = by_role[conversation_pb2.MESSAGE_ROLE_ASSISTANT]
    assert visitor.text == QUESTION
    assert assistant.text == answer
    assert assistant.state == conversation_pb2.MESSAGE_STATE_COMPLETE
    assert assistant.input_tokens > 0
    assert assistant.output_tokens > 0
    assert assistant.first_token_latency.ToTimedelta().total_seconds() > 0
    assert assistant.citations
    assert all(c.title.startswith(FAQ_TITLE) for c in assistant.citations)


async def test_html_in_a_message_is_text(page: Page, platform: Platform) -> None:
    frames = Frames()
    frames.attach(page)
    hostile = "<img src=x onerror=window.__xss=1>"
    await open_widget(page, demo_page(platform))
    await frames.wait_for("session")
    await send(page, hostile)
    await expect(page.locator(".ac-msg-visitor")).to_have_text(hostile)
    await frames.wait_for("stream:end")
    await page.wait_for_timeout(300)
    images = await page.evaluate(f"document.querySelector('{HOST}').shadowRoot.querySelectorAll('img').length")
    assert images == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert await page.locator("img").count() == 0


async def test_a_page_on_another_domain_is_refused(page: Page, platform: Platform) -> None:
    frames = Frames()
    frames.attach(page)
    await open_widget(page, demo_page(platform, ELSEWHERE))
    await expect(page.locator(".ac-status")).to_have_text("Unavailable", timeout=15000)
    await expect(page.locator(".ac-notice")).to_contain_text("may not embed this chatbot")
    [refusal] = frames.connect_errors
    assert refusal["data"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert f"http://{ELSEWHERE}:" in refusal["data"]["message"]
    assert frames.of("session") == []


async def test_rest_creates_a_chatbot_and_openapi_lists_the_routes(platform: Platform) -> None:
    account = platform.account
    async with platform.edge_http() as http:
        login = await http.post(
            "/v1/auth:login", json={"tenantSlug": account.slug, "email": account.email, "password": account.password}
        )
        assert login.status_code == 200, login.text
        bearer = {"authorization": f"Bearer {login.json()['tokens']['accessToken']}"}
        tenant_id = account.tenant.removeprefix("tenants/")
        created = await http.post(
            f"/v1/tenants/{tenant_id}/chatbots",
            json={"displayName": "Rest bot", "placement": {"allowedDomains": ["shop.example.com"]}},
            headers=bearer,
        )
        assert created.status_code == 200, created.text
        bot = created.json()
        assert bot["name"].startswith(f"{account.tenant}/chatbots/")
        assert bot["displayName"] == "Rest bot"
        fetched = await http.get(f"/v1/{bot['name']}", headers=bearer)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["placement"]["allowedDomains"] == ["shop.example.com"]
        anonymous = await http.post(f"/v1/tenants/{tenant_id}/chatbots", json={"displayName": "x"})
        assert anonymous.status_code == 401, anonymous.text
        document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/v1/tenants/{tenant}/chatbots"])
    assert {"get", "patch", "delete"} <= set(paths["/v1/tenants/{tenant}/chatbots/{chatbot}"])
    assert "/v1/auth:login" in paths
