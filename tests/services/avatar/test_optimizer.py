"""optimize_glb: the real glTF Transform CLI shrinks avatars that still validate and keep their clips and faces."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from services.avatar.default_avatar import build_default_avatar
from services.avatar.inspection import inspect_glb
from services.avatar.optimizer import (
    DEFAULT_EXECUTABLE,
    Compression,
    OptimizeError,
    OptimizeOptions,
    optimize_glb,
)
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_samples import ROBOT, edited_glb

pytestmark = pytest.mark.skipif(
    not DEFAULT_EXECUTABLE.exists(), reason=f"{DEFAULT_EXECUTABLE} is missing: run `npm ci` in the repository root"
)

EXTENSION = {"meshopt": "EXT_meshopt_compression", "draco": "KHR_draco_mesh_compression"}


def _models() -> list[object]:
    """The default avatar always; the shared robot when shared/ carries it."""
    robot = pytest.param(
        ROBOT, id="robot-expressive", marks=pytest.mark.skipif(not ROBOT.is_file(), reason=f"{ROBOT} is absent")
    )
    return [pytest.param(None, id="default-avatar"), robot]


def _load(path: Path | None) -> bytes:
    """The robot's bytes, or the generated default avatar for None."""
    return build_default_avatar() if path is None else path.read_bytes()


@pytest.mark.parametrize("compression", ["meshopt", "draco"])
@pytest.mark.parametrize("path", _models())
async def test_optimized_model_is_smaller_valid_and_keeps_clips_and_morph_targets(
    path: Path | None, compression: Compression
) -> None:
    original = _load(path)
    result = await optimize_glb(original, OptimizeOptions(compression=compression))

    assert result.size_before == len(original)
    assert result.size_after == len(result.data) <= len(original)
    assert result.size_after < 0.8 * len(original), "both models have plenty of float geometry to compress"
    report = validate_glb(result.data)
    assert report.valid, report.errors
    assert not report.errors
    assert EXTENSION[compression] in report.stats.extensions_used
    before, after = inspect_glb(original), inspect_glb(result.data)
    assert after.clip_names == before.clip_names
    assert after.morph_targets == before.morph_targets
    assert result.steps[:5] == ("dedup", "weld", "resample", "prune", "sparse")
    assert result.steps[-1] == compression
    assert result.tool_version.count(".") == 2


async def test_no_compression_still_dedups_and_validates() -> None:
    original = build_default_avatar()
    result = await optimize_glb(original, OptimizeOptions(compression="none", webp=False))

    # The default avatar comes out smaller (140,364 to 139,308 bytes here), so the output is the tool's, not the
    # original kept.
    assert result.size_after < result.size_before
    assert "kept-original" not in result.steps
    report = validate_glb(result.data)
    assert report.valid, report.errors
    assert not set(EXTENSION.values()) & set(report.stats.extensions_used)
    assert "textures:same-format<=1024" in result.steps


async def test_textures_are_resized_and_turned_into_webp() -> None:
    noise = Image.effect_noise((256, 256), 64).convert("RGB")  # not solid, so prune keeps it as a texture
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    original = edited_glb({}, image=buffer.getvalue())
    assert validate_glb(original).stats.max_texture_size == 256

    result = await optimize_glb(original, OptimizeOptions(compression="meshopt", texture_max_size=64, webp=True))

    report = validate_glb(result.data)
    assert report.valid, report.errors
    assert "EXT_texture_webp" in report.stats.extensions_used
    assert report.stats.max_texture_size == 64
    assert inspect_glb(result.data).morph_targets == ("jawOpen", "mouthSmile")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"glTF\x02\x00\x00\x00" + b"\xff" * 64, "json"),
        (b"this is not a model at all", "json"),
    ],
    ids=["corrupt-glb", "not-a-glb"],
)
async def test_broken_input_raises_with_the_tools_message(data: bytes, problem: str) -> None:
    with pytest.raises(OptimizeError, match="gltf-transform failed \\(exit 1\\)") as caught:
        await optimize_glb(data, OptimizeOptions())
    assert problem in str(caught.value).lower()


async def test_truncated_model_names_the_problem() -> None:
    truncated = build_default_avatar()[:20_000]
    with pytest.raises(OptimizeError, match="gltf-transform failed") as caught:
        await optimize_glb(truncated, OptimizeOptions())
    assert "typed array length" in str(caught.value).lower()


async def test_timeout_kills_the_tool() -> None:
    with pytest.raises(OptimizeError, match=r"timed out after 0\.05 s"):
        await optimize_glb(build_default_avatar(), OptimizeOptions(timeout_seconds=0.05))


async def test_missing_tool_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(OptimizeError, match="npm ci"):
        await optimize_glb(build_default_avatar(), OptimizeOptions(), executable=tmp_path / "gltf-transform")


@pytest.mark.parametrize(
    "kwargs",
    [{"compression": "brotli"}, {"texture_max_size": 0}, {"timeout_seconds": 0}],
    ids=["unknown-compression", "zero-texture-size", "zero-timeout"],
)
def test_options_reject_values_the_tool_would_misread(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        OptimizeOptions(**kwargs)  # type: ignore[arg-type]
