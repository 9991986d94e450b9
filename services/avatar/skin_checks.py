"""Checks skins: joints are existing, distinct nodes and there is an inverse bind matrix for each."""

from __future__ import annotations

from services.avatar.check_context import FLOAT, CheckContext
from services.avatar.gltf_json import child


def check_skins(ctx: CheckContext) -> int:
    """Check every skin; returns the number of joints over all skins."""
    reader, issues = ctx.reader, ctx.issues
    total = 0
    for skin in reader.top("skins"):
        joints_pointer = child(skin.pointer, "joints")
        joints = reader.index_list(skin.obj, "joints", skin.pointer, "nodes")
        raw_joints = skin.obj.get("joints")
        if raw_joints is None:
            reader.missing(skin.pointer, "joints")
            continue
        if raw_joints == []:
            issues.error("ARRAY_EMPTY", "A skin needs at least one joint.", joints_pointer)
            continue
        total += len(joints)
        seen: set[int] = set()
        for position, joint in joints:
            if joint in seen:
                issues.error("SKIN_DUPLICATE_JOINT", f"Node {joint} is listed twice.", child(joints_pointer, position))
            seen.add(joint)
        reader.index(skin.obj, "skeleton", skin.pointer, "nodes")
        matrices = reader.index(skin.obj, "inverseBindMatrices", skin.pointer, "accessors")
        info = ctx.sound_accessor(matrices)
        if info is None:
            continue
        matrices_pointer = child(skin.pointer, "inverseBindMatrices")
        if info.accessor_type != "MAT4" or info.component_type != FLOAT:
            issues.error(
                "SKIN_INVERSE_BIND_MATRICES_INVALID",
                "inverseBindMatrices must be a MAT4 FLOAT accessor.",
                matrices_pointer,
            )
        elif info.count < len(joints):
            issues.error(
                "SKIN_INVERSE_BIND_MATRICES_COUNT",
                f"{info.count} inverse bind matrices for {len(joints)} joints.",
                matrices_pointer,
            )
    return total
