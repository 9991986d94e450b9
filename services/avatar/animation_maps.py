"""Edits of an avatar's behaviour map: checked against the model, marked MANUAL where they differ from AUTO."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import field_mask_pb2

from avatarchat.avatar.v1 import avatar_pb2
from services.avatar.behaviours import BEHAVIOURS, behaviour_for_value
from services.avatar.morph_targets import OCULUS_VISEMES
from services.runtime import errors
from services.runtime.validation import Checks

MAP_PATHS = ("entries", "viseme_morphs")
_LIBRARY_ORDER = {b.name: i for i, b in enumerate(BEHAVIOURS)}


def update_paths(mask: field_mask_pb2.FieldMask) -> set[str]:
    """The masked paths (empty mask: both); anything else is INVALID_ARGUMENT on update_mask."""
    paths = set(mask.paths) or set(MAP_PATHS)
    unknown = sorted(paths - set(MAP_PATHS))
    if unknown:
        raise errors.InvalidArgument.field(
            "update_mask", f"cannot update {unknown[0][:80]}; use entries, viseme_morphs"
        )
    return paths


def _entries(
    checks: Checks,
    given: Sequence[avatar_pb2.AnimationMapEntry],
    clips: set[str],
    morphs: set[str],
    auto: Mapping[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(given):
        at = f"animation_map.entries[{i}]"
        behaviour = behaviour_for_value(entry.behaviour)
        if behaviour is None:
            checks.fail(f"{at}.behaviour", "required: a Behaviour other than UNSPECIFIED")
            continue
        if behaviour.name in seen:
            checks.fail(f"{at}.behaviour", f"{behaviour.enum_name} is mapped twice")
            continue
        seen.add(behaviour.name)
        target = entry.WhichOneof("target")
        value = getattr(entry, target) if target else ""
        if not target or not value:
            checks.fail(at, "exactly one of clip or morph_target is required")
            continue
        if target == "clip" and value not in clips:
            checks.fail(f"{at}.clip", f"the model has no clip named {value[:80]!r}")
            continue
        if target == "morph_target" and value not in morphs:
            checks.fail(f"{at}.morph_target", f"the model has no morph target named {value[:80]!r}")
            continue
        doc: dict[str, Any] = {"behaviour": behaviour.name, target: value}
        automatic = auto.get(behaviour.name)
        same = automatic is not None and automatic.get(target) == value
        out.append({**doc, "source": "auto" if same else "manual"})
    return out


def _visemes(checks: Checks, given: Mapping[str, str], morphs: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for viseme, morph in given.items():
        at = f"animation_map.viseme_morphs[{viseme[:20]}]"
        if viseme not in OCULUS_VISEMES:
            checks.fail(at, f"not an Oculus viseme; one of {', '.join(OCULUS_VISEMES)}")
        elif morph not in morphs:
            checks.fail(at, f"the model has no morph target named {morph[:80]!r}")
        else:
            out[viseme] = morph
    return {v: out[v] for v in OCULUS_VISEMES if v in out}


def edited_map(
    current: Mapping[str, Any],
    auto: Mapping[str, Any],
    request: avatar_pb2.UpdateAnimationMapRequest,
    clips: Sequence[Mapping[str, Any]],
    morphs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The map after the request (or `auto`, the automatic map, on reset_to_auto), checked against the model."""
    if request.reset_to_auto:
        return dict(auto)
    paths = update_paths(request.update_mask)
    clip_names = {c["name"] for c in clips}
    morph_names = {m["name"] for m in morphs}
    auto_by_behaviour = {e["behaviour"]: e for e in auto.get("entries", [])}
    checks = Checks()
    entries: list[dict[str, Any]] = list(current.get("entries", []))
    visemes: dict[str, str] = dict(current.get("viseme_morphs", {}))
    given = request.animation_map
    if "entries" in paths:
        entries = _entries(checks, given.entries, clip_names, morph_names, auto_by_behaviour)
    if "viseme_morphs" in paths:
        visemes = _visemes(checks, dict(given.viseme_morphs), morph_names)
    checks.done()
    entries.sort(key=lambda e: _LIBRARY_ORDER[e["behaviour"]])
    return {"entries": entries, "viseme_morphs": visemes}
