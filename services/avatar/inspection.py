"""Lists what an avatar can play: its animation clips and its named morph targets."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from services.avatar.check_context import CheckContext
from services.avatar.document import open_document
from services.avatar.gltf_json import DocumentReader, JsonObject, as_int
from services.avatar.report import DEFAULT_LIMITS, IssueCollector, IssueLimitReached, ValidationLimits

logger = logging.getLogger(__name__)

#: Longest clip duration reported; a file may declare key times up to 1e308, which no protobuf Duration holds.
MAX_CLIP_SECONDS = 86_400.0


@dataclass(frozen=True)
class ClipInfo:
    """One animation clip of a model (`AnimationClip` of avatar.v1)."""

    name: str
    """The animation's name; unnamed animations are called "animation_{index}"."""
    duration_seconds: float
    """Length of the clip: the largest key time of its samplers."""
    channels: int
    """Number of animated node properties."""


@dataclass(frozen=True)
class AvatarInspection:
    """The clips and morph targets of a model, as far as the file could be read."""

    clips: tuple[ClipInfo, ...] = ()
    """Animation clips, in file order."""
    morph_targets: tuple[str, ...] = ()
    """Morph target names, unique across meshes, in file order; unnamed ones are called "target_{index}"."""

    @property
    def clip_names(self) -> tuple[str, ...]:
        """The clip names, in file order."""
        return tuple(clip.name for clip in self.clips)


def inspect_glb(data: bytes, limits: ValidationLimits = DEFAULT_LIMITS) -> AvatarInspection:
    """The clips and morph targets of a GLB file; empty for a file that cannot be read. Never raises."""
    try:
        ctx = open_document(data, limits, IssueCollector(0, stop_after=limits.stop_after_issues))
        if ctx is None:
            return AvatarInspection()
        return AvatarInspection(clips=_clips(ctx), morph_targets=morph_target_names(ctx.reader))
    except IssueLimitReached:
        return AvatarInspection()  # too broken to trust anything in it
    except Exception:
        logger.exception("avatar inspection failed unexpectedly")
        return AvatarInspection()


def _clips(ctx: CheckContext) -> tuple[ClipInfo, ...]:
    """Each animation's name, duration and channel count."""
    clips: list[ClipInfo] = []
    for animation in ctx.reader.top("animations"):
        name = animation.obj.get("name")
        channels = animation.obj.get("channels")
        clips.append(
            ClipInfo(
                name=name if isinstance(name, str) and name else f"animation_{animation.index}",
                duration_seconds=_duration(ctx, animation.obj),
                channels=len(channels) if isinstance(channels, list) else 0,
            )
        )
    return tuple(clips)


def _duration(ctx: CheckContext, animation: JsonObject) -> float:
    """The largest key time over the animation's samplers (declared `max`, else the last key in the data)."""
    longest = 0.0
    for sampler in ctx.reader.array(animation, "samplers", ""):
        if not isinstance(sampler, dict):
            continue
        info = ctx.sound_accessor(as_int(sampler.get("input")))
        if info is None:
            continue
        end = info.declared_max[0] if info.declared_max else ctx.read_last_float(info)
        if end is not None and math.isfinite(end):
            longest = max(longest, end)
    return min(longest, MAX_CLIP_SECONDS)


def morph_target_names(reader: DocumentReader) -> tuple[str, ...]:
    """Morph target names from `mesh.extras.targetNames` (or the first primitive's extras), unique, in file order."""
    names: dict[str, None] = {}
    for mesh in reader.top("meshes"):
        primitives = mesh.obj.get("primitives")
        first = primitives[0] if isinstance(primitives, list) and primitives else None
        if not isinstance(first, dict):
            continue
        targets = first.get("targets")
        count = len(targets) if isinstance(targets, list) else 0
        declared = _target_names(mesh.obj) or _target_names(first)
        for position in range(min(count, reader.max_items)):
            given = declared[position] if position < len(declared) else None
            names[given if given else f"target_{position}"] = None
    return tuple(names)


def _target_names(obj: JsonObject) -> list[str | None]:
    """`extras.targetNames` of a mesh or primitive, with None for entries that are not strings."""
    extras = obj.get("extras")
    listed = extras.get("targetNames") if isinstance(extras, dict) else None
    if not isinstance(listed, list):
        return []
    return [name if isinstance(name, str) else None for name in listed]
