"""The platform's default avatar, generated from code as a deterministic .glb (stored under a content hash)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.avatar import default_avatar_clips as states
from services.avatar import default_avatar_gestures as gestures
from services.avatar.default_avatar_face import DARK, MORPH_NAMES, MOUTH, face_primitives
from services.avatar.default_avatar_glb import GlbBuilder, Json, json_float
from services.avatar.default_avatar_mesh import Geometry, merge, quantize
from services.avatar.default_avatar_motion import FACE_NODE, Clip, channels, quaternion
from services.avatar.default_avatar_rig import (
    ACCENT,
    BODY,
    HEAD_CENTRE_OFFSET,
    JOINT_INDEX,
    JOINTS,
    REST,
    WHITE,
    body_parts,
    torso,
    torso_weights,
)

GENERATOR = "avatarchat default avatar"

#: Clips in the order of the Behaviour enum (avatarchat.ai.v1), each named as the enum value in lower case.
CLIPS = (
    states.idle,
    states.talk,
    states.listen,
    states.think,
    gestures.greet,
    gestures.nod,
    gestures.shake,
    states.happy,
    states.sad,
    states.surprised,
    states.angry,
    states.confused,
    gestures.thumbs_up,
    gestures.shrug,
    gestures.point,
    gestures.bow,
    states.laugh,
    gestures.celebrate,
    gestures.goodbye,
    states.excited,
)

# Flat PBR colours (linear RGB): sky-blue shell, orange trim, white gloves and eyes, navy pupils, berry mouth.
_MATERIALS: dict[str, tuple[tuple[float, float, float], float]] = {
    BODY: ((0.104, 0.527, 0.831), 0.55),
    ACCENT: ((1.0, 0.262, 0.054), 0.5),
    WHITE: ((0.93, 0.93, 0.89), 0.4),
    DARK: ((0.013, 0.016, 0.036), 0.3),
    MOUTH: ((0.195, 0.019, 0.039), 0.6),
}
_MATERIAL_INDEX = {name: i for i, name in enumerate(_MATERIALS)}

U8 = npt.NDArray[np.uint8]

# Node layout: the root, which is also the skinned body (validators warn when a skinned mesh has a parent,
# whose transform it would ignore), then one node per joint, then the face (a child of the head).
_ROOT = 0
_JOINT_NODE = {name: 1 + i for name, i in JOINT_INDEX.items()}
_FACE_NODE = 1 + len(JOINTS)


def _materials() -> list[Json]:
    return [
        {
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorFactor": [*colour, 1.0],
                "metallicFactor": 0.0,
                "roughnessFactor": roughness,
            },
        }
        for name, (colour, roughness) in _MATERIALS.items()
    ]


def _vertex_attributes(builder: GlbBuilder, geometry: Geometry) -> Json:
    positions = quantize(geometry.positions)
    return {
        "POSITION": builder.vertex_floats(positions, "VEC3", bounds=True),
        "NORMAL": builder.vertex_floats(quantize(geometry.normals), "VEC3"),
    }


def _body_mesh(builder: GlbBuilder) -> Json:
    """The skinned body: one primitive per material, every vertex carried by one joint or (torso) blended."""
    groups: dict[str, list[tuple[Geometry, U8, U8]]] = {BODY: [], ACCENT: [], WHITE: []}
    trunk = torso()
    groups[BODY].append((trunk, *torso_weights(quantize(trunk.positions).astype(np.float64))))
    for part in body_parts():
        count = len(part.geometry.positions)
        joints = np.zeros((count, 4), np.uint8)
        weights = np.zeros((count, 4), np.uint8)
        joints[:, 0], weights[:, 0] = JOINT_INDEX[part.joint], 255
        groups[part.material].append((part.geometry, joints, weights))
    primitives = []
    for material, members in groups.items():
        geometry = merge([g for g, _, _ in members])
        attributes = _vertex_attributes(builder, geometry)
        attributes["JOINTS_0"] = builder.bytes_vec4(np.concatenate([j for _, j, _ in members]), normalized=False)
        attributes["WEIGHTS_0"] = builder.bytes_vec4(np.concatenate([w for _, _, w in members]), normalized=True)
        primitives.append(
            {
                "attributes": attributes,
                "indices": builder.indices(geometry.triangles),
                "material": _MATERIAL_INDEX[material],
            }
        )
    return {"name": "Body", "primitives": primitives}


def _face_mesh(builder: GlbBuilder) -> Json:
    """The face: eyes, brows and mouth with the five morph targets three.js finds by name."""
    primitives = []
    for primitive in face_primitives():
        count = len(primitive.geometry.positions)
        targets = [
            {
                "POSITION": builder.zeros(count, "VEC3")
                if moved is None
                else builder.vertex_floats(quantize(moved), "VEC3", bounds=True)
            }
            for moved in primitive.displacements
        ]
        primitives.append(
            {
                "attributes": _vertex_attributes(builder, primitive.geometry),
                "indices": builder.indices(primitive.geometry.triangles),
                "material": _MATERIAL_INDEX[primitive.material],
                "targets": targets,
            }
        )
    return {
        "name": "Face",
        "primitives": primitives,
        "weights": [0.0] * len(MORPH_NAMES),
        "extras": {"targetNames": list(MORPH_NAMES)},
    }


def _grid_json(values: npt.NDArray[np.float64]) -> list[float]:
    """JSON numbers for libm-derived values (rotations), snapped to the grid like the buffer data."""
    return [json_float(v) for v in quantize(values).reshape(-1)]


def _nodes() -> list[Json]:
    nodes: list[Json] = [{"name": "DefaultAvatar", "mesh": 0, "skin": 0, "children": [_JOINT_NODE["hips"]]}]
    for joint in JOINTS:
        parent = np.zeros(3) if joint.parent is None else np.array(JOINTS[JOINT_INDEX[joint.parent]].position)
        # Plain float32 of decimal constants, no grid: no libm is involved, and 0.46 stays 0.46.
        offset = np.array(joint.position) - parent
        node: Json = {"name": joint.name, "translation": [json_float(v) for v in offset]}
        if joint.name in REST:
            node["rotation"] = _grid_json(quaternion(REST[joint.name]))
        children = [_JOINT_NODE[j.name] for j in JOINTS if j.parent == joint.name]
        if joint.name == "head":
            children.append(_FACE_NODE)
        if children:
            node["children"] = children
        nodes.append(node)
    nodes.append({"name": FACE_NODE, "mesh": 1, "translation": [0.0, HEAD_CENTRE_OFFSET, 0.0]})
    return nodes


def _skin(builder: GlbBuilder) -> Json:
    """The skin: joints in JOINTS order; with unrotated bind poses each inverse bind matrix is a translation."""
    matrices = np.tile(np.eye(4), (len(JOINTS), 1, 1))
    matrices[:, 3, :3] = -np.array([joint.position for joint in JOINTS])  # row 3 of column-major = translation
    return {
        "name": "DefaultAvatarSkeleton",
        "inverseBindMatrices": builder.packed_floats(matrices.reshape(-1, 16), "MAT4", "skin"),
        "joints": [_JOINT_NODE[joint.name] for joint in JOINTS],
        "skeleton": _JOINT_NODE["hips"],
    }


def _animation(builder: GlbBuilder, clip: Clip) -> Json:
    samplers: list[Json] = []
    targets: list[Json] = []
    kinds = {"rotation": "VEC4", "translation": "VEC3", "weights": "SCALAR"}
    for channel in channels(clip):
        node = _FACE_NODE if channel.node == FACE_NODE else _JOINT_NODE[channel.node]
        samplers.append(
            {
                # Times stay plain float32 (not grid-snapped) so the bounds read 2.4 rather than 2.399993896484375.
                "input": builder.packed_floats(channel.times, "SCALAR", "animation", bounds=True),
                "interpolation": "LINEAR",
                "output": builder.packed_floats(quantize(channel.values), kinds[channel.path], "animation"),
            }
        )
        targets.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": channel.path}})
    return {"name": clip.name, "channels": targets, "samplers": samplers}


def build_default_avatar() -> bytes:
    """The default avatar as .glb bytes: identical on every call and machine."""
    builder = GlbBuilder()
    meshes = [_body_mesh(builder), _face_mesh(builder)]
    skin = _skin(builder)
    animations = [_animation(builder, make()) for make in CLIPS]
    document: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"name": "DefaultAvatar", "nodes": [_ROOT]}],
        "nodes": _nodes(),
        "meshes": meshes,
        "materials": _materials(),
        "skins": [skin],
        "animations": animations,
    }
    return builder.glb(document)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m services.avatar.default_avatar OUT.glb`: writes the default avatar to OUT.glb."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m services.avatar.default_avatar OUT.glb", file=sys.stderr)
        return 2
    data = build_default_avatar()
    Path(args[0]).write_bytes(data)
    print(f"wrote {args[0]} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
