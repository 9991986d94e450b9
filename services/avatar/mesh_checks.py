"""Checks meshes: primitive attributes, indices (ranges read from the data within a budget) and morph targets."""

from __future__ import annotations

from dataclasses import dataclass

from services.avatar.check_context import FLOAT, CheckContext
from services.avatar.gltf_json import Item, JsonObject, child
from services.avatar.report import echo

QUANTIZATION = "KHR_mesh_quantization"
DRACO = "KHR_draco_mesh_compression"
TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 4, 5, 6
_UNSIGNED = (5121, 5123, 5125)
#: Accessor types allowed per attribute semantic (prefix before "_n"); others are not checked.
_SEMANTIC_TYPES: dict[str, tuple[str, ...]] = {
    "POSITION": ("VEC3",),
    "NORMAL": ("VEC3",),
    "TANGENT": ("VEC4",),
    "TEXCOORD": ("VEC2",),
    "COLOR": ("VEC3", "VEC4"),
    "JOINTS": ("VEC4",),
    "WEIGHTS": ("VEC4",),
}


@dataclass(frozen=True)
class MeshSummary:
    """What a mesh contributes to the statistics."""

    triangles: int
    vertices: int
    targets: int
    """Morph targets per primitive (the same for all primitives of a valid mesh)."""


def check_meshes(ctx: CheckContext) -> dict[int, MeshSummary]:
    """Check every mesh, returning each mesh's triangle, vertex and morph target counts."""
    summaries: dict[int, MeshSummary] = {}
    for mesh in ctx.reader.top("meshes"):
        triangles = vertices = 0
        target_counts: list[int] = []
        for primitive in ctx.reader.items(mesh.obj, "primitives", mesh.pointer, required=True):
            tris, verts, targets = _check_primitive(ctx, primitive)
            triangles, vertices = triangles + tris, vertices + verts
            if target_counts and targets != target_counts[0]:
                ctx.issues.error(
                    "MESH_PRIMITIVES_UNEQUAL_TARGETS_COUNT",
                    f"This primitive has {targets} morph targets, the first one {target_counts[0]}.",
                    primitive.pointer,
                )
            target_counts.append(targets)
        if not target_counts and isinstance(mesh.obj.get("primitives"), list):
            ctx.issues.error("ARRAY_EMPTY", "A mesh needs at least one primitive.", child(mesh.pointer, "primitives"))
        targets = target_counts[0] if target_counts else 0
        _check_mesh_target_lists(ctx, mesh, targets)
        summaries[mesh.index] = MeshSummary(triangles, vertices, targets)
    return summaries


def _check_mesh_target_lists(ctx: CheckContext, mesh: Item, targets: int) -> None:
    """`weights` must have one entry per morph target; `extras.targetNames` should name each one."""
    weights = ctx.reader.array(mesh.obj, "weights", mesh.pointer)
    if weights and len(weights) != targets:
        ctx.issues.error(
            "MESH_INVALID_WEIGHTS_COUNT",
            f"{len(weights)} default weights for {targets} morph targets.",
            child(mesh.pointer, "weights"),
        )
    extras = mesh.obj.get("extras")
    names = extras.get("targetNames") if isinstance(extras, dict) else None
    if names is not None and (not isinstance(names, list) or len(names) != targets):
        ctx.issues.warning(
            "MORPH_TARGET_NAMES_MISMATCH",
            f"extras.targetNames does not name each of the {targets} morph targets.",
            child(child(mesh.pointer, "extras"), "targetNames"),
        )


def _check_primitive(ctx: CheckContext, primitive: Item) -> tuple[int, int, int]:
    """Check one primitive; returns its triangles, vertices and morph target count."""
    reader, issues, pointer = ctx.reader, ctx.issues, primitive.pointer
    attributes = reader.obj(primitive.obj, "attributes", pointer, required=True) or {}
    draco = _has_extension(primitive.obj, DRACO)
    if draco:
        extensions = reader.obj(primitive.obj, "extensions", pointer) or {}
        draco_ext = reader.obj(extensions, DRACO, child(pointer, "extensions")) or {}
        reader.index(draco_ext, "bufferView", child(child(pointer, "extensions"), DRACO), "bufferViews", required=True)
    vertex_count = _check_attributes(ctx, attributes, child(pointer, "attributes"))
    if "POSITION" not in attributes:
        issues.warning(
            "MESH_PRIMITIVE_NO_POSITION", "The primitive has no POSITION attribute; nothing is drawn.", pointer
        )
    mode = reader.integer(primitive.obj, "mode", pointer)
    if mode is not None and mode > TRIANGLE_FAN:
        issues.error("MESH_PRIMITIVE_INVALID_MODE", f"mode {mode} is not 0-6.", child(pointer, "mode"))
        mode = None
    reader.index(primitive.obj, "material", pointer, "materials")
    drawn = _check_indices(ctx, primitive.obj, pointer, vertex_count)
    if drawn is None:
        drawn = vertex_count or 0
    targets = reader.items(primitive.obj, "targets", pointer)
    for target in targets:
        _check_target(ctx, target, vertex_count)
    triangles = _triangles(TRIANGLES if mode is None else mode, drawn)
    return triangles, vertex_count or 0, len(targets)


def _has_extension(obj: JsonObject, name: str) -> bool:
    """True if the object has the named extension."""
    extensions = obj.get("extensions")
    return isinstance(extensions, dict) and name in extensions


def _triangles(mode: int, count: int) -> int:
    """Triangles drawn from `count` vertices (or indices) in a primitive mode."""
    if mode == TRIANGLES:
        return count // 3
    if mode in (TRIANGLE_STRIP, TRIANGLE_FAN):
        return max(count - 2, 0)
    return 0


def _check_attributes(ctx: CheckContext, attributes: JsonObject, pointer: str) -> int | None:
    """Check attribute accessors' types and equal counts; returns the vertex count when known."""
    reader, issues = ctx.reader, ctx.issues
    quantized = QUANTIZATION in ctx.extensions_used
    vertex_count: int | None = None
    for name in list(attributes)[: ctx.limits.max_array_items]:
        index = reader.index(attributes, name, pointer, "accessors", required=True)
        info = ctx.sound_accessor(index)
        if info is None:
            continue
        attr_pointer = child(pointer, name)
        allowed = _SEMANTIC_TYPES.get(name.split("_", 1)[0] if name[:1] != "_" else "")
        if allowed and info.accessor_type not in allowed:
            issues.error(
                "MESH_PRIMITIVE_ATTRIBUTE_INVALID",
                f"{echo(name)} must be {' or '.join(allowed)}, not {info.accessor_type}.",
                attr_pointer,
            )
        if name == "POSITION" and info.component_type != FLOAT and not quantized:
            issues.error(
                "MESH_PRIMITIVE_ATTRIBUTE_INVALID",
                f"POSITION must be FLOAT unless {QUANTIZATION} is used.",
                attr_pointer,
            )
        if vertex_count is None:
            vertex_count = info.count
        elif info.count != vertex_count:
            issues.error(
                "MESH_PRIMITIVE_UNEQUAL_ACCESSOR_COUNT",
                f"{echo(name)} has {info.count} elements, other attributes {vertex_count}.",
                attr_pointer,
            )
    return vertex_count


def _check_indices(ctx: CheckContext, primitive: JsonObject, pointer: str, vertex_count: int | None) -> int | None:
    """Check the index accessor and, within the scan budget, that every index names a vertex; returns its count."""
    index = ctx.reader.index(primitive, "indices", pointer, "accessors")
    info = ctx.sound_accessor(index)
    if info is None:
        return None
    indices_pointer = child(pointer, "indices")
    if info.accessor_type != "SCALAR" or info.component_type not in _UNSIGNED:
        ctx.issues.error(
            "MESH_PRIMITIVE_INDICES_INVALID",
            "Indices must be a SCALAR accessor of unsigned byte, short or int.",
            indices_pointer,
        )
        return None
    view = ctx.views.get(info.view) if info.view is not None else None
    if view is not None and view.byte_stride:
        ctx.issues.error(
            "MESH_PRIMITIVE_INDICES_INVALID", "An index buffer view must not have byteStride.", indices_pointer
        )
    if vertex_count is not None:
        values = ctx.read_indices(info)
        largest = max(values) if values else None
        if largest is not None and largest >= vertex_count:
            ctx.issues.error(
                "MESH_PRIMITIVE_INDEX_OUT_OF_RANGE",
                f"Index {largest} is not below the vertex count {vertex_count}.",
                indices_pointer,
            )
    return info.count


def _check_target(ctx: CheckContext, target: Item, vertex_count: int | None) -> None:
    """Each morph target attribute must have one element per vertex of the primitive."""
    for name in list(target.obj)[: ctx.limits.max_array_items]:
        index = ctx.reader.index(target.obj, name, target.pointer, "accessors", required=True)
        info = ctx.sound_accessor(index)
        if info is not None and vertex_count is not None and info.count != vertex_count:
            ctx.issues.error(
                "MORPH_TARGET_ATTRIBUTE_COUNT_MISMATCH",
                f"Target attribute {echo(name)} has {info.count} elements; the primitive has {vertex_count} vertices.",
                target.pointer,
            )
