"""Shrinks avatar GLB files with the glTF Transform CLI (npm `@gltf-transform/cli`), run as a subprocess job."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.avatar.inspection import inspect_glb
from services.avatar.validation import validate_glb

Compression = Literal["meshopt", "draco", "none"]

#: The repository root; node_modules/ is installed there by the Makefile's `npm ci`.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where `npm ci` puts the CLI's launcher.
DEFAULT_EXECUTABLE = REPO_ROOT / "node_modules" / ".bin" / "gltf-transform"
#: Longest message kept from the tool's output; its stack traces can run to pages.
_MAX_MESSAGE_CHARS = 2_000
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COMPRESS_FLAG: dict[str, str] = {"meshopt": "meshopt", "draco": "draco", "none": "false"}
# Steps the `optimize` command runs with the flags below, in its order (see _command).
_BASE_STEPS = ("dedup", "weld", "resample", "prune", "sparse")


class OptimizeError(Exception):
    """The optimizer could not produce a usable file; the message says why."""


@dataclass(frozen=True)
class OptimizeOptions:
    """How to optimize one model; dedup, weld, prune and lossless animation resampling always run."""

    compression: Compression = "meshopt"
    """Geometry compression: meshopt (also quantizes, smallest and fastest to decode), draco, or none."""
    texture_max_size: int = 1024
    """Textures larger than this many pixels on a side are scaled down to fit."""
    webp: bool = True
    """Re-encode textures as WebP (EXT_texture_webp); otherwise they keep their format."""
    timeout_seconds: float = 120.0
    """Longest the tool may run before it is killed."""

    def __post_init__(self) -> None:
        """Rejects values the tool would misread."""
        if self.compression not in _COMPRESS_FLAG:
            raise ValueError(f"compression must be one of {sorted(_COMPRESS_FLAG)}, not {self.compression!r}")
        if self.texture_max_size < 1:
            raise ValueError(f"texture_max_size must be positive, not {self.texture_max_size}")
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, not {self.timeout_seconds}")


@dataclass(frozen=True)
class OptimizeResult:
    """An optimized model and what it took to make it."""

    data: bytes
    """The optimized GLB (the input itself when optimizing would have made it larger)."""
    size_before: int
    """Input size in bytes."""
    size_after: int
    """Output size in bytes."""
    steps: tuple[str, ...]
    """The steps that ran, in order, e.g. ("dedup", ..., "textures:webp<=1024", "meshopt")."""
    tool_version: str
    """The `@gltf-transform/cli` version that ran."""
    elapsed_seconds: float
    """Wall time of the whole job."""


async def optimize_glb(
    data: bytes, options: OptimizeOptions, *, executable: Path = DEFAULT_EXECUTABLE
) -> OptimizeResult:
    """Optimizes a GLB with `gltf-transform optimize` and checks the result still validates and keeps its clips."""
    started = time.monotonic()
    version = tool_version(executable)
    with tempfile.TemporaryDirectory(prefix="avatar-optimize-") as scratch:
        source, target = Path(scratch) / "input.glb", Path(scratch) / "output.glb"
        await asyncio.to_thread(source.write_bytes, data)
        await _run(_command(executable, source, target, options), options.timeout_seconds, cwd=scratch)
        if not await asyncio.to_thread(target.is_file):
            raise OptimizeError("gltf-transform exited successfully but wrote no output file")
        optimized = await asyncio.to_thread(target.read_bytes)
    steps = (*_BASE_STEPS, _texture_step(options), *(() if options.compression == "none" else (options.compression,)))
    await asyncio.to_thread(_check_output, data, optimized)
    if len(optimized) > len(data):
        # An already-optimized upload can grow by a few bytes; serving the original is then strictly better.
        optimized, steps = data, (*steps, "kept-original")
    return OptimizeResult(
        data=optimized,
        size_before=len(data),
        size_after=len(optimized),
        steps=steps,
        tool_version=version,
        elapsed_seconds=time.monotonic() - started,
    )


@functools.cache
def tool_version(executable: Path = DEFAULT_EXECUTABLE) -> str:
    """The CLI's version read from its package.json, which saves starting Node just to ask."""
    if not executable.exists():
        raise OptimizeError(f"gltf-transform not found at {executable}: run `npm ci` in {REPO_ROOT}")
    manifest = executable.resolve().parent.parent / "package.json"  # .bin/ links to <package>/bin/cli.js
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return "unknown"
    return version if isinstance(version, str) else "unknown"


def _command(executable: Path, source: Path, target: Path, options: OptimizeOptions) -> list[str]:
    """The `optimize` command line, with every lossy or structure-changing step turned off."""
    return [
        str(executable),
        "optimize",
        str(source),
        str(target),
        "--compress",
        _COMPRESS_FLAG[options.compression],
        "--texture-compress",
        "webp" if options.webp else "auto",
        "--texture-size",
        str(options.texture_max_size),
        # Joining, flattening, instancing and palettes rename or merge nodes, meshes and materials the widget
        # drives by name (morph targets, bones); simplify changes the silhouette. Avatars keep all of those.
        "--join",
        "false",
        "--flatten",
        "false",
        "--instance",
        "false",
        "--palette",
        "false",
        "--simplify",
        "false",
    ]


def _texture_step(options: OptimizeOptions) -> str:
    """How textures were treated, as listed in `OptimizeResult.steps`."""
    return f"textures:{'webp' if options.webp else 'same-format'}<={options.texture_max_size}"


async def _run(command: list[str], timeout_seconds: float, *, cwd: str) -> None:
    """Runs the tool without a shell; a failure or time-out becomes an OptimizeError carrying its message."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise OptimizeError(f"gltf-transform timed out after {timeout_seconds:g} s") from None
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise OptimizeError(f"gltf-transform failed (exit {process.returncode}): {_message(stdout, stderr)}")


def _message(stdout: bytes, stderr: bytes) -> str:
    """The tool's `error:` lines (it prints them on stdout), else whatever it printed, trimmed."""
    text = _ANSI_ESCAPE.sub("", (stdout + b"\n" + stderr).decode("utf-8", "replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.lower().startswith("error")]
    message = "; ".join(errors or lines) or "no output"
    return message[:_MAX_MESSAGE_CHARS]


def _check_output(original: bytes, optimized: bytes) -> None:
    """Refuses output that no longer validates or lost clips or morph targets, so a tool bug never ships."""
    report = validate_glb(optimized)
    if not report.valid:
        detail = "; ".join(f"{issue.code} at {issue.pointer or 'file'}: {issue.message}" for issue in report.errors[:3])
        raise OptimizeError(f"optimized file does not validate: {detail or 'errors were found'}")
    before, after = inspect_glb(original), inspect_glb(optimized)
    if len(after.clips) < len(before.clips) or len(after.morph_targets) < len(before.morph_targets):
        raise OptimizeError(
            f"optimizing lost content: {len(before.clips)} → {len(after.clips)} clips, "
            f"{len(before.morph_targets)} → {len(after.morph_targets)} morph targets"
        )
