"""The generated default avatar: deterministic bytes, a valid and compact GLB, its rig, face and 20 clips."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pygltflib  # type: ignore[import-untyped]
import pytest

from avatarchat.ai.v1 import ai_pb2
from services.avatar.default_avatar import GENERATOR, build_default_avatar, main

#: The stored file's content hash. The avatar is kept under a content-addressed key, so any change to
#: its bytes must be deliberate: if you changed the avatar on purpose, update this; if not, find the drift.
EXPECTED_SHA256 = "b223605630a298927bef932091544f38b577d31a0fa6c1dca724fa9f067062d1"
MAX_BYTES = 150 * 1024
MORPH_NAMES = ["mouthOpen", "smile", "frown", "surprise", "blink"]
#: One clip per behaviour, named as the enum value without its prefix, in lower case.
CLIP_NAMES = [name.removeprefix("BEHAVIOUR_").lower() for name in ai_pb2.Behaviour.keys()[1:]]
#: States the widget plays on repeat; the rest are one-shot gestures and expressions.
LOOPS = ("idle", "talk", "listen", "think")
#: Clips that must animate a face morph, and the target each must raise.
FACE_CLIPS = {
    "idle": "blink",
    "talk": "mouthOpen",
    "happy": "smile",
    "laugh": "smile",
    "sad": "frown",
    "surprised": "surprise",
}

_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPES: dict[int, type[np.generic]] = {
    pygltflib.FLOAT: np.float32,
    pygltflib.UNSIGNED_SHORT: np.uint16,
    pygltflib.UNSIGNED_BYTE: np.uint8,
}


@pytest.fixture(scope="module")
def data() -> bytes:
    return build_default_avatar()


@pytest.fixture(scope="module")
def gltf(data: bytes) -> pygltflib.GLTF2:
    return pygltflib.GLTF2.load_from_bytes(data)


def read(gltf: pygltflib.GLTF2, index: int) -> npt.NDArray[Any]:
    """Accessor `index` as an (count, components) array; an accessor without a view is all zeros."""
    accessor = gltf.accessors[index]
    dtype = _DTYPES[accessor.componentType]
    width = _COMPONENTS[accessor.type]
    if accessor.bufferView is None:
        return np.zeros((accessor.count, width), dtype)
    view = gltf.bufferViews[accessor.bufferView]
    offset = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    blob = gltf.binary_blob()
    assert blob is not None
    return np.frombuffer(blob, dtype, accessor.count * width, offset).reshape(accessor.count, width)


def clip(gltf: pygltflib.GLTF2, name: str) -> pygltflib.Animation:
    return next(a for a in gltf.animations if a.name == name)


def face_weights(gltf: pygltflib.GLTF2, animation: pygltflib.Animation) -> npt.NDArray[Any] | None:
    """The (keys, targets) morph weights a clip animates, or None when it leaves the face alone."""
    for channel in animation.channels:
        if channel.target.path == "weights":
            return read(gltf, animation.samplers[channel.sampler].output).reshape(-1, len(MORPH_NAMES))
    return None


def test_the_same_bytes_every_time(data: bytes) -> None:
    assert build_default_avatar() == data
    assert hashlib.sha256(data).hexdigest() == EXPECTED_SHA256


def test_the_command_writes_the_same_file(data: bytes, tmp_path: Path) -> None:
    out = tmp_path / "avatar.glb"
    assert main([str(out)]) == 0
    assert out.read_bytes() == data
    assert main([]) == 2


def test_a_small_glb_container(data: bytes) -> None:
    assert len(data) < MAX_BYTES
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A
    assert json_length % 4 == 0
    bin_length, bin_type = struct.unpack_from("<II", data, 20 + json_length)
    assert bin_type == 0x004E4942
    assert bin_length % 4 == 0
    assert 28 + json_length + bin_length == len(data)
    json.loads(data[20 : 20 + json_length])


def test_loads_with_pygltflib(gltf: pygltflib.GLTF2) -> None:
    assert gltf.asset.version == "2.0"
    assert gltf.asset.generator == GENERATOR == "avatarchat default avatar"
    assert gltf.scene == 0
    roots = gltf.scenes[0].nodes
    assert len(roots) == 1
    assert gltf.nodes[roots[0]].name == "DefaultAvatar"
    assert all(node.name for node in gltf.nodes)
    assert len({node.name for node in gltf.nodes}) == len(gltf.nodes)


def test_accessors_and_views_lie_within_their_storage(gltf: pygltflib.GLTF2) -> None:
    blob = gltf.binary_blob()
    assert blob is not None
    assert len(gltf.buffers) == 1
    assert gltf.buffers[0].byteLength == len(blob)
    for view in gltf.bufferViews:
        start = view.byteOffset or 0
        assert start % 4 == 0
        assert start + view.byteLength <= gltf.buffers[0].byteLength
        assert view.byteStride is None  # nothing is interleaved, so no view needs a stride
    for accessor in gltf.accessors:
        element = _COMPONENTS[accessor.type] * np.dtype(_DTYPES[accessor.componentType]).itemsize
        if accessor.bufferView is None:
            assert accessor.byteOffset in (None, 0)
            continue
        offset = accessor.byteOffset or 0
        assert offset % np.dtype(_DTYPES[accessor.componentType]).itemsize == 0
        assert offset + accessor.count * element <= gltf.bufferViews[accessor.bufferView].byteLength


def test_meshes_are_well_formed(gltf: pygltflib.GLTF2) -> None:
    for mesh in gltf.meshes:
        for primitive in mesh.primitives:
            positions = read(gltf, primitive.attributes.POSITION)
            accessor = gltf.accessors[primitive.attributes.POSITION]
            # JSON holds the shortest decimals that read back as the same float32 values.
            assert np.array_equal(np.array(accessor.min, np.float32), positions.min(axis=0))
            assert np.array_equal(np.array(accessor.max, np.float32), positions.max(axis=0))
            normals = read(gltf, primitive.attributes.NORMAL)
            assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-3)
            index_accessor = gltf.accessors[primitive.indices]
            assert index_accessor.componentType == pygltflib.UNSIGNED_SHORT
            indices = read(gltf, primitive.indices)
            assert len(indices) % 3 == 0
            assert int(indices.max()) < len(positions)
            for target in primitive.targets:
                moved = gltf.accessors[target["POSITION"]]
                assert moved.count == len(positions)
                assert moved.min is not None
                assert moved.max is not None


def test_a_skin_of_named_joints(gltf: pygltflib.GLTF2) -> None:
    (skin,) = gltf.skins
    names = {gltf.nodes[j].name for j in skin.joints}
    assert len(skin.joints) >= 12
    for side in ("left", "right"):
        assert {f"{side}Shoulder", f"{side}UpperArm", f"{side}LowerArm", f"{side}Hand"} <= names
    assert {"hips", "spine", "chest", "neck", "head"} <= names
    assert read(gltf, skin.inverseBindMatrices).shape == (len(skin.joints), 16)
    skinned = [node for node in gltf.nodes if node.skin is not None]
    assert skinned
    for node in skinned:
        for primitive in gltf.meshes[node.mesh].primitives:
            joints = read(gltf, primitive.attributes.JOINTS_0)
            weights = read(gltf, primitive.attributes.WEIGHTS_0)
            assert gltf.accessors[primitive.attributes.WEIGHTS_0].normalized
            assert int(joints.max()) < len(skin.joints)
            assert np.all(weights.astype(int).sum(axis=1) == 255)  # normalised bytes: 255 is a weight sum of 1


def test_the_face_has_the_five_morph_targets(gltf: pygltflib.GLTF2) -> None:
    faces = [mesh for mesh in gltf.meshes if mesh.primitives[0].targets]
    assert len(faces) == 1
    (face,) = faces
    assert face.extras["targetNames"] == MORPH_NAMES
    assert face.weights == [0.0] * len(MORPH_NAMES)
    for i, name in enumerate(MORPH_NAMES):
        largest = max(float(np.abs(read(gltf, p.targets[i]["POSITION"])).max()) for p in face.primitives)
        assert largest > 0.005, f"{name} barely moves the face"


def test_twenty_clips_named_by_behaviour(gltf: pygltflib.GLTF2) -> None:
    assert len(CLIP_NAMES) == 20
    assert [animation.name for animation in gltf.animations] == CLIP_NAMES


def test_every_channel_targets_an_existing_node(gltf: pygltflib.GLTF2) -> None:
    for animation in gltf.animations:
        assert animation.channels, animation.name
        targeted = set()
        for channel in animation.channels:
            assert 0 <= channel.target.node < len(gltf.nodes)
            assert channel.target.path in ("rotation", "translation", "weights")
            if channel.target.path == "weights":
                assert gltf.nodes[channel.target.node].mesh is not None
            assert (channel.target.node, channel.target.path) not in targeted
            targeted.add((channel.target.node, channel.target.path))
            sampler = animation.samplers[channel.sampler]
            assert sampler.interpolation == "LINEAR"
            times = read(gltf, sampler.input)[:, 0]
            assert times[0] == 0.0
            assert np.all(np.diff(times) > 0)
            assert np.float32(gltf.accessors[sampler.input].max[0]) == times[-1]
            values = read(gltf, sampler.output)
            assert values.size % len(times) == 0
            if channel.target.path == "rotation":
                assert np.allclose(np.linalg.norm(values, axis=1), 1.0, atol=1e-3)


def test_clip_lengths_and_seamless_loops(gltf: pygltflib.GLTF2) -> None:
    for animation in gltf.animations:
        ends = {float(read(gltf, s.input)[-1, 0]) for s in animation.samplers}
        assert len(ends) == 1, f"{animation.name}: channels end at different times"
        duration = ends.pop()
        if animation.name != "idle":  # idle breathes slowly; everything else lasts 1-3 s
            assert 1.0 <= duration <= 3.0, animation.name
    for name in LOOPS:
        for sampler in clip(gltf, name).samplers:
            values = read(gltf, sampler.output)
            keys = len(read(gltf, sampler.input))
            rows = values.reshape(keys, -1)
            assert np.array_equal(rows[0], rows[-1]), f"{name} does not loop seamlessly"


def test_face_clips_move_the_face(gltf: pygltflib.GLTF2) -> None:
    for name, target in FACE_CLIPS.items():
        weights = face_weights(gltf, clip(gltf, name))
        assert weights is not None, f"{name} has no morph channel"
        assert weights[:, MORPH_NAMES.index(target)].max() >= 0.9, f"{name} does not show {target}"
    talk = face_weights(gltf, clip(gltf, "talk"))
    assert talk is not None
    assert len(np.unique(talk[:, MORPH_NAMES.index("mouthOpen")])) > 5  # the mouth keeps moving


def test_the_platform_validator_accepts_it(data: bytes) -> None:
    if importlib.util.find_spec("services.avatar.validation") is None:
        pytest.skip("services/avatar/validation.py (validate_glb) does not exist yet")
    from services.avatar.validation import validate_glb

    report = validate_glb(data)
    assert not report.errors, report.errors
    assert report.stats.animations == 20
    assert report.stats.morph_targets == 5
