"""The 3D avatar's motion in headless Chromium against the scripted edge: lip sync on the mouth morphs, blinking,
the talk and idle loops and the crossfades between them, and Draco- and meshopt-compressed models.

Motion is read from the host's pose hooks (widget/README.md): data-mouth and data-blink are the largest mouth and
blink morph weights as drawn, data-mix the weighted clips ("idle:0.6 talk:0.4" mid-crossfade).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from services.avatar.default_avatar import build_default_avatar
from services.avatar.optimizer import OptimizeOptions, optimize_glb
from tests.browser.conftest import CHROMIUM
from tests.browser.scripted_edge import SLOW_CHUNKS, SLOW_QUESTION, EdgeLog, Embed, build_app, serve
from tests.browser.test_widget_static import (
    DIST,
    HOST,
    assert_canvas_draws,
    host_page,
    open_widget,
    send,
)

#: The default avatar with its clips' morph-weight tracks removed: every move of its face is the widget's own.
EMBED_STILL_FACE = "emb_widgetTestStillFaceAAAA"
EMBED_DRACO = "emb_widgetTestDracoAAAAAAAA"
EMBED_MESHOPT = "emb_widgetTestMeshoptAAAAAA"
COMPRESSION = {EMBED_DRACO: "KHR_draco_mesh_compression", EMBED_MESHOPT: "EXT_meshopt_compression"}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
    pytest.mark.skipif(not (DIST / "embed.js").exists(), reason="widget/dist is not built (npm run build:widget)"),
]

#: Records every value the pose hooks and data-clip take, with whether an answer was streaming then. The widget
#: sets them at most once a frame, so a 160 ms blink or a crossfade's middle frames are not missed between polls.
WATCH_POSE = """host => { window.__pose = [];
  const el = document.querySelector(host);
  new MutationObserver(records => {
    const streaming = !!el.shadowRoot.querySelector('.ac-msg-assistant[aria-busy="true"]');
    for (const r of records) window.__pose.push([r.attributeName, el.getAttribute(r.attributeName), streaming]);
  }).observe(el, {attributes: true, attributeFilter: ['data-mouth', 'data-blink', 'data-mix', 'data-clip']}); }"""


def glb_json(data: bytes) -> dict[str, Any]:
    """The JSON chunk of a GLB."""
    (length,) = struct.unpack_from("<I", data, 12)
    parsed: dict[str, Any] = json.loads(data[20 : 20 + length])
    return parsed


def without_face_tracks(data: bytes) -> bytes:
    """The GLB with every animation channel that drives morph weights removed (samplers and buffers kept)."""
    (length,) = struct.unpack_from("<I", data, 12)
    document = glb_json(data)
    for animation in document["animations"]:
        animation["channels"] = [c for c in animation["channels"] if c["target"]["path"] != "weights"]
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    rest = data[20 + length :]  # the BIN chunk, unchanged
    header = struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(text) + len(rest))
    return header + struct.pack("<I4s", len(text), b"JSON") + text + rest


def compressed(data: bytes, compression: str, extension: str) -> bytes:
    """The GLB as the avatar optimizer compresses it, checked to really use `extension`."""
    # In a thread of its own: sync Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        job = optimize_glb(data, OptimizeOptions(compression=compression))  # type: ignore[arg-type]
        result = pool.submit(asyncio.run, job).result()
    assert extension in glb_json(result.data).get("extensionsRequired", []), result.steps
    return result.data


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EdgeLog]]:
    """(page origin, log) of a scripted edge with the default avatar and the variants above; pages by embed id."""
    models = tmp_path_factory.mktemp("avatar")
    avatar = build_default_avatar()
    files = {
        "default": avatar,
        EMBED_STILL_FACE: without_face_tracks(avatar),
        EMBED_DRACO: compressed(avatar, "draco", COMPRESSION[EMBED_DRACO]),
        EMBED_MESHOPT: compressed(avatar, "meshopt", COMPRESSION[EMBED_MESHOPT]),
    }
    for name, data in files.items():
        (models / f"{name}.glb").write_bytes(data)
    embeds = {embed_id: Embed(models / f"{embed_id}.glb") for embed_id in files if embed_id != "default"}
    pages: dict[str, str] = {}
    log = EdgeLog()
    with serve(build_app(DIST, models / "default.glb", pages, log, embeds)) as port:
        edge_origin = f"http://127.0.0.1:{port}"
        pages["host"] = host_page(edge_origin)
        for embed_id in embeds:
            pages[embed_id] = host_page(edge_origin, embed_id=embed_id)
        yield f"http://localhost:{port}", log


def open_3d(page: Page, url: str) -> None:
    """Opens the widget and waits for the 3D avatar, then starts recording its pose."""
    open_widget(page, url)
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    expect(page.locator(HOST)).to_have_attribute("data-mix", "idle:1", timeout=10000)
    page.evaluate(WATCH_POSE, HOST)


def slow_answer(page: Page) -> None:
    """Asks SLOW_QUESTION and waits for the whole answer."""
    send(page, SLOW_QUESTION)
    answer = page.locator(".ac-msg-assistant").last
    expect(answer.locator(".ac-body")).to_have_text("".join(SLOW_CHUNKS), timeout=20000)


#: How far a weight published in tenths may be from the one drawn (a little more, for float sums).
ROUNDING = 0.051


def weights(page: Page) -> list[dict[str, float]]:
    """The mixer's clip weights as data-mix took them since open_3d, in order."""
    return [{name: float(w) for name, w in (item.split(":") for item in mix.split())} for mix in pose(page, "data-mix")]


def assert_whole(mixes: list[dict[str, float]]) -> None:
    """Every published mix weighs 1 in all, within the rounding of its tenths: no clip stacked on another, and no
    part of the pose left to the bind pose."""
    off = [mix for mix in mixes if abs(sum(mix.values()) - 1) > ROUNDING * len(mix)]
    assert not off, off


def pose(page: Page, hook: str, *, streaming: bool | None = None) -> list[str]:
    """The values a hook took since open_3d, optionally only those while an answer was (not) streaming."""
    records: list[list[Any]] = page.evaluate("window.__pose")
    return [value for name, value, busy in records if name == hook and streaming in (None, busy)]


def test_lip_sync_moves_the_mouth_morphs(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """The cues riding in the chunks open the mouth morph while the answer streams, and it closes after."""
    open_3d(page, f"{edge[0]}/pages/{EMBED_STILL_FACE}")
    expect(page.locator(HOST)).to_have_attribute("data-mouth", "0")
    slow_answer(page)
    # No clip of this model moves the face, so an open mouth can only be lip sync. Open vowels (aa, O, E) open it
    # by 0.6 to 0.9; the letter-driven fallback must not take over (the chunks carry cues).
    opened = [float(value) for value in pose(page, "data-mouth", streaming=True)]
    assert max(opened, default=0.0) >= 0.5, opened
    # Three cues ride in each chunk and the closing one follows the last chunk (it may land after the text shows).
    expect(page.locator(HOST)).to_have_attribute("data-viseme-cues", str(3 * len(SLOW_CHUNKS) + 1))
    expect(page.locator(HOST)).to_have_attribute("data-mouth", "0", timeout=10000)


def test_eyes_blink_while_idle(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """The widget's own blinking closes the blink morph now and then while the avatar idles."""
    open_3d(page, f"{edge[0]}/pages/{EMBED_STILL_FACE}")
    # Blinks come every 2 to 6 s; several chances within the timeout, each only ~160 ms long, hence the recording.
    page.wait_for_function("() => window.__pose.some(([name, value]) => name === 'data-blink' && value >= 0.5)")
    expect(page.locator(HOST)).to_have_attribute("data-blink", "0", timeout=5000)
    assert page.locator(HOST).get_attribute("data-clip") == "idle"
    assert set(pose(page, "data-mix")) <= {"idle:1"}


def test_talks_while_the_answer_streams_then_idles(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """The talk loop takes over the mixer while an answer streams, and the idle loop once it has ended."""
    open_3d(page, f"{edge[0]}/pages/host")
    slow_answer(page)
    assert "talk:1" in pose(page, "data-mix", streaming=True), pose(page, "data-mix")
    assert "talk" in pose(page, "data-clip", streaming=True)
    expect(page.locator(HOST)).to_have_attribute("data-mix", "idle:1", timeout=10000)
    expect(page.locator(HOST)).to_have_attribute("data-clip", "idle")


def test_clip_changes_crossfade(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """Going from talk to idle weighs both clips part-way for a while: a crossfade, not a cut."""
    open_3d(page, f"{edge[0]}/pages/host")
    slow_answer(page)
    expect(page.locator(HOST)).to_have_attribute("data-mix", "idle:1", timeout=10000)

    def blended(mix: str) -> bool:
        weights = dict(item.split(":") for item in mix.split())
        return weights.keys() == {"talk", "idle"} and all(0 < float(w) < 1 for w in weights.values())

    mixes = pose(page, "data-mix")
    assert any(blended(mix) for mix in mixes), mixes
    # Changing state again mid-fade (typing, then sending) fades each clip out from the weight it had: one restarted
    # at full weight would show as weights summing to well over 1 (`idle:1 listen:1`).
    assert_whole(weights(page))


def test_state_changes_within_one_frame_move_the_weight_smoothly(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """Typing and sending in one go (idle → listen → idle → think before the next frame) never stacks two clips at
    full weight: the mixer's weights always sum to 1 and each frame moves them by at most one frame's fade."""
    open_3d(page, f"{edge[0]}/pages/host")
    page.evaluate(
        """([host, text]) => { const input = document.querySelector(host).shadowRoot.querySelector('#ac-input');
        input.value = text; input.dispatchEvent(new Event('input'));
        input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); }""",
        [HOST, SLOW_QUESTION],
    )
    answer = page.locator(".ac-msg-assistant").last
    expect(answer.locator(".ac-body")).to_have_text("".join(SLOW_CHUNKS), timeout=20000)
    expect(page.locator(HOST)).to_have_attribute("data-mix", "idle:1", timeout=10000)
    mixes = weights(page)
    assert any("think" in mix for mix in mixes), mixes
    assert_whole(mixes)
    # A frame is at most 0.1 s (the tick's clamp), so no weight jumps by more than 0.1 s of the 0.35 s fade.
    for before, after in itertools.pairwise(mixes):
        assert all(abs(after.get(k, 0) - before.get(k, 0)) <= 0.4 for k in before | after), (before, after)


def test_a_gesture_takes_its_share_of_the_pose_then_hands_it_back(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """A cued nod (intensity 0.8, held 4 s) fades in over the base loop to 0.8, the loop keeping the rest, and fades
    out again once it ends."""
    open_3d(page, f"{edge[0]}/pages/host")
    send(page, "How fast do you ship?")
    expect(page.locator(HOST)).to_have_attribute("data-clip", "nod")
    expect(page.locator(HOST)).to_have_attribute("data-clip", "idle", timeout=10000)
    expect(page.locator(HOST)).to_have_attribute("data-mix", "idle:1", timeout=5000)
    mixes = weights(page)
    nods = [mix.get("nod", 0.0) for mix in mixes]
    assert max(nods) == 0.8, mixes
    held = [mix for mix in mixes if mix.get("nod") == 0.8]
    base = [{name: w for name, w in mix.items() if name != "nod"} for mix in held]
    assert all(abs(sum(mix.values()) - 0.2) <= ROUNDING * len(mix) for mix in base), held
    peak = nods.index(0.8)
    assert any(0 < nod < 0.8 for nod in nods[:peak]), mixes  # faded in
    assert any(0 < nod < 0.8 for nod in nods[peak:]), mixes  # and out
    assert_whole(mixes)


@pytest.mark.parametrize("embed_id", [EMBED_DRACO, EMBED_MESHOPT])
def test_compressed_model_renders(page: Page, edge: tuple[str, EdgeLog], embed_id: str) -> None:
    """A Draco- or meshopt-compressed avatar (as the optimizer writes them) decodes and draws."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_widget(page, f"{edge[0]}/pages/{embed_id}")
    expect(page.locator(HOST)).to_have_attribute("data-mode", "3d", timeout=20000)
    assert_canvas_draws(page)
    # The Draco decoder is fetched from the edge only for Draco models; meshopt's ships inside the 3D chunk.
    fetched_draco = any("/widget/draco/" in url for url in requests)
    assert fetched_draco == (embed_id == EMBED_DRACO), requests
    assert page.locator(HOST).get_attribute("data-fallback-reason") is None


def test_clicking_the_avatar_waves_and_tells_the_edge(page: Page, edge: tuple[str, EdgeLog]) -> None:
    """A click on the avatar plays its greet clip at once and reaches the edge as an `avatar:interaction`."""
    open_3d(page, f"{edge[0]}/pages/host")
    # The greeting's own wave ends first, so the next greet can only be the click's.
    expect(page.locator(HOST)).to_have_attribute("data-clip", "idle", timeout=15000)
    before = len(edge[1].interactions)
    page.locator(".ac-stage canvas").click()
    expect(page.locator(HOST)).to_have_attribute("data-clip", "greet", timeout=5000)
    # The event travels to the scripted edge's own thread; give it a moment.
    deadline = time.monotonic() + 10
    while "click" not in edge[1].interactions[before:] and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert "click" in edge[1].interactions[before:], edge[1].interactions
