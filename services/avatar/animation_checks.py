"""Checks animations: channels target existing nodes, samplers read valid accessors with matching counts."""

from __future__ import annotations

from dataclasses import dataclass

from services.avatar.check_context import FLOAT, AccessorInfo, CheckContext
from services.avatar.gltf_json import Item, child
from services.avatar.mesh_checks import MeshSummary
from services.avatar.report import echo

INTERPOLATIONS = ("LINEAR", "STEP", "CUBICSPLINE")
#: Output accessor type per animated property.
PATH_TYPES = {"translation": "VEC3", "rotation": "VEC4", "scale": "VEC3", "weights": "SCALAR"}
ANIMATION_POINTER = "KHR_animation_pointer"


@dataclass(frozen=True)
class _Sampler:
    """A sampler whose input and output accessors passed their own checks."""

    pointer: str
    input: AccessorInfo | None
    output: AccessorInfo | None
    interpolation: str


def check_animations(ctx: CheckContext, meshes: dict[int, MeshSummary], node_meshes: dict[int, int]) -> None:
    """Check every animation's samplers and channels."""
    node_targets = {node: meshes[mesh].targets for node, mesh in node_meshes.items() if mesh in meshes}
    for animation in ctx.reader.top("animations"):
        samplers = [_check_sampler(ctx, sampler) for sampler in _non_empty(ctx, animation, "samplers")]
        targets: set[tuple[int, str]] = set()
        for channel in _non_empty(ctx, animation, "channels"):
            _check_channel(ctx, channel, samplers, targets, node_targets)


def _non_empty(ctx: CheckContext, animation: Item, key: str) -> list[Item]:
    """The objects of a required, non-empty array of an animation."""
    found = ctx.reader.items(animation.obj, key, animation.pointer, required=True)
    if not found and isinstance(animation.obj.get(key), list):
        ctx.issues.error("ARRAY_EMPTY", f"An animation needs at least one of its {key}.", child(animation.pointer, key))
    return found


def _check_sampler(ctx: CheckContext, sampler: Item) -> _Sampler:
    """Check a sampler's accessors and interpolation."""
    reader, issues = ctx.reader, ctx.issues
    input_info = ctx.sound_accessor(reader.index(sampler.obj, "input", sampler.pointer, "accessors", required=True))
    output_info = ctx.sound_accessor(reader.index(sampler.obj, "output", sampler.pointer, "accessors", required=True))
    interpolation = reader.string(sampler.obj, "interpolation", sampler.pointer) or "LINEAR"
    if interpolation not in INTERPOLATIONS:
        issues.error(
            "ANIMATION_SAMPLER_INVALID_INTERPOLATION",
            f"interpolation {echo(interpolation)} is not one of {', '.join(INTERPOLATIONS)}.",
            child(sampler.pointer, "interpolation"),
        )
    if input_info is not None and (input_info.accessor_type != "SCALAR" or input_info.component_type != FLOAT):
        issues.error(
            "ANIMATION_SAMPLER_INPUT_INVALID",
            "The input (key times) must be a SCALAR FLOAT accessor.",
            child(sampler.pointer, "input"),
        )
        input_info = None
    if input_info is not None and interpolation == "CUBICSPLINE" and input_info.count < 2:
        issues.error(
            "ANIMATION_SAMPLER_INPUT_INVALID", "CUBICSPLINE needs at least two keys.", child(sampler.pointer, "input")
        )
    return _Sampler(sampler.pointer, input_info, output_info, interpolation)


def _check_channel(
    ctx: CheckContext,
    channel: Item,
    samplers: list[_Sampler],
    targets: set[tuple[int, str]],
    node_targets: dict[int, int],
) -> None:
    """Check a channel's sampler and target, and that the sampler's output fits the animated property."""
    reader, issues = ctx.reader, ctx.issues
    sampler_index = reader.integer(channel.obj, "sampler", channel.pointer, required=True)
    if sampler_index is not None and sampler_index >= len(samplers):
        issues.error(
            "INDEX_OUT_OF_RANGE",
            f"{sampler_index} is not an index of this animation's samplers ({len(samplers)}).",
            child(channel.pointer, "sampler"),
        )
        sampler_index = None
    target = reader.obj(channel.obj, "target", channel.pointer, required=True)
    if target is None:
        return
    target_pointer = child(channel.pointer, "target")
    node = reader.index(target, "node", target_pointer, "nodes")
    path = reader.string(target, "path", target_pointer, required=True)
    if path is None:
        return
    if path not in PATH_TYPES and not (path == "pointer" and ANIMATION_POINTER in ctx.extensions_used):
        issues.error(
            "ANIMATION_CHANNEL_INVALID_PATH",
            f"path {echo(path)} is not one of {', '.join(PATH_TYPES)}.",
            child(target_pointer, "path"),
        )
        return
    if node is None or path not in PATH_TYPES:
        return
    if (node, path) in targets:
        issues.error(
            "ANIMATION_DUPLICATE_TARGET", f"Node {node} {path} is animated twice in this animation.", target_pointer
        )
    targets.add((node, path))
    morph_targets = 1
    if path == "weights":
        morph_targets = node_targets.get(node, 0)
        if morph_targets == 0:
            issues.error(
                "ANIMATION_WEIGHTS_WITHOUT_MORPH_TARGETS",
                f"Node {node} has no mesh with morph targets.",
                target_pointer,
            )
            return
    if sampler_index is not None:
        _check_output(ctx, samplers[sampler_index], path, morph_targets)


def _check_output(ctx: CheckContext, sampler: _Sampler, path: str, morph_targets: int) -> None:
    """The output must hold one value (three for CUBICSPLINE) of the property's type per key and morph target."""
    if sampler.input is None or sampler.output is None:
        return
    output_pointer = child(sampler.pointer, "output")
    if sampler.output.accessor_type != PATH_TYPES[path]:
        ctx.issues.error(
            "ANIMATION_SAMPLER_OUTPUT_INVALID",
            f"Animating {path} needs a {PATH_TYPES[path]} output, not {sampler.output.accessor_type}.",
            output_pointer,
        )
        return
    per_key = (3 if sampler.interpolation == "CUBICSPLINE" else 1) * morph_targets
    if sampler.output.count != sampler.input.count * per_key:
        ctx.issues.error(
            "ANIMATION_SAMPLER_OUTPUT_COUNT_MISMATCH",
            f"{sampler.output.count} output values for {sampler.input.count} keys; expected "
            f"{sampler.input.count * per_key}.",
            output_pointer,
        )
