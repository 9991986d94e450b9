"""render_preview: real headless Chromium draws each avatar with three.js into a PNG that shows the model."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from services.avatar.default_avatar import build_default_avatar
from services.avatar.optimizer import DEFAULT_EXECUTABLE, Compression, OptimizeOptions, optimize_glb
from services.avatar.preview import DEFAULT_CHROMIUM, THREE_DIR, PreviewError, PreviewRenderer, render_preview
from tests.services.avatar.glb_samples import ROBOT

pytestmark = [
    pytest.mark.skipif(
        not DEFAULT_CHROMIUM.exists(), reason=f"{DEFAULT_CHROMIUM} is missing: apt-get install chromium"
    ),
    pytest.mark.skipif(not THREE_DIR.is_dir(), reason=f"{THREE_DIR} is missing: run `npm ci` in the repository root"),
]

needs_robot = pytest.mark.skipif(not ROBOT.is_file(), reason=f"{ROBOT} is absent")
needs_optimizer = pytest.mark.skipif(not DEFAULT_EXECUTABLE.exists(), reason=f"{DEFAULT_EXECUTABLE} is missing")


@pytest.fixture(scope="module")
async def renderer() -> AsyncIterator[PreviewRenderer]:
    """One browser for the module, as a worker would keep it."""
    async with PreviewRenderer() as shared:
        yield shared


def _load(path: Path | None) -> bytes:
    """The robot's bytes, or the generated default avatar for None."""
    return build_default_avatar() if path is None else path.read_bytes()


def _coverage_and_spread(png: bytes, size: tuple[int, int]) -> tuple[float, float]:
    """The fraction of pixels the model covers (the background is transparent) and its colour spread."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == size
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    covered = sum(count for value, count in enumerate(alpha.histogram()) if value > 0) / (size[0] * size[1])
    mask = alpha.point(lambda value: 255 if value > 200 else 0)
    spread = max(ImageStat.Stat(rgba.convert("RGB"), mask=mask).stddev)
    return covered, spread


def _assert_shows_a_model(png: bytes, size: tuple[int, int]) -> float:
    """Fails for a blank, flat or overflowing preview; returns the coverage."""
    covered, spread = _coverage_and_spread(png, size)
    assert 0.05 < covered < 0.9, f"model covers {covered:.1%} of the frame"
    assert spread > 20, f"colours barely vary (stddev {spread:.1f}): unlit or a flat silhouette"
    return covered


@pytest.mark.parametrize(
    "path", [pytest.param(None, id="default-avatar"), pytest.param(ROBOT, id="robot-expressive", marks=needs_robot)]
)
async def test_preview_shows_the_model(renderer: PreviewRenderer, path: Path | None) -> None:
    png = await render_preview(_load(path), 512, 512, renderer=renderer)
    _assert_shows_a_model(png, (512, 512))


async def test_preview_has_the_requested_size_for_a_wide_frame(renderer: PreviewRenderer) -> None:
    png = await render_preview(build_default_avatar(), 320, 200, renderer=renderer)
    _assert_shows_a_model(png, (320, 200))


@needs_robot
@needs_optimizer
@pytest.mark.parametrize("compression", ["meshopt", "draco"])
async def test_compressed_model_renders_like_the_original(renderer: PreviewRenderer, compression: Compression) -> None:
    original = _load(ROBOT)
    optimized = await optimize_glb(original, OptimizeOptions(compression=compression))

    before = _assert_shows_a_model(await renderer.render(original, 256, 256), (256, 256))
    after = _assert_shows_a_model(await renderer.render(optimized.data, 256, 256), (256, 256))
    assert after == pytest.approx(before, rel=0.05), "quantization may move edges, not the silhouette"


async def test_render_preview_without_a_renderer_starts_and_stops_its_own() -> None:
    png = await render_preview(build_default_avatar(), 128, 128)
    _assert_shows_a_model(png, (128, 128))


async def test_a_model_that_fails_to_load_raises_the_browsers_message(renderer: PreviewRenderer) -> None:
    with pytest.raises(PreviewError, match=r"preview failed: .*not valid JSON"):
        await renderer.render(b"this is not a model at all", 64, 64)
    # The worker's browser survives a bad model.
    _assert_shows_a_model(await renderer.render(build_default_avatar(), 64, 64), (64, 64))


async def test_a_truncated_model_raises(renderer: PreviewRenderer) -> None:
    with pytest.raises(PreviewError, match=r"preview failed: .+"):
        await renderer.render(build_default_avatar()[:20_000], 64, 64)


@pytest.mark.parametrize(("width", "height"), [(0, 512), (512, 5000)])
async def test_unreasonable_sizes_are_refused(renderer: PreviewRenderer, width: int, height: int) -> None:
    with pytest.raises(ValueError, match="preview size"):
        await renderer.render(build_default_avatar(), width, height)
