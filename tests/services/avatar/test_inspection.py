"""Listing clips and morph targets, and agreement with a GLB written by another implementation (pygltflib)."""

from __future__ import annotations

import struct

import pygltflib  # type: ignore[import-untyped]
import pytest

from services.avatar.inspection import inspect_glb
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_samples import DELETE, ROBOT, edited_glb, pack_glb, sample_document


def test_robot_clips_and_morph_targets() -> None:
    if not ROBOT.exists():
        pytest.skip(f"{ROBOT} is absent (a plain clone has no ../shared)")
    inspection = inspect_glb(ROBOT.read_bytes())
    assert len(inspection.clips) == 14
    assert set(inspection.clip_names) >= {"Wave", "Yes", "No", "Idle", "ThumbsUp", "Dance", "Death"}
    assert inspection.morph_targets == ("Angry", "Surprised", "Sad")
    wave = next(clip for clip in inspection.clips if clip.name == "Wave")
    assert 0.5 < wave.duration_seconds < 10
    assert wave.channels > 0


def test_sample_clip_duration_from_the_declared_max() -> None:
    inspection = inspect_glb(edited_glb({}))
    assert [(clip.name, clip.duration_seconds, clip.channels) for clip in inspection.clips] == [
        ("Armature|Wave", 1.5, 2)
    ]
    assert inspection.morph_targets == ("jawOpen", "mouthSmile")


def test_clip_duration_read_from_the_data_without_a_declared_max() -> None:
    inspection = inspect_glb(edited_glb({"accessors.8.max": DELETE, "accessors.8.min": DELETE}))
    assert inspection.clips[0].duration_seconds == 1.5


def test_unnamed_clips_and_targets_get_positional_names() -> None:
    inspection = inspect_glb(edited_glb({"animations.0.name": DELETE, "meshes.0.extras": DELETE}))
    assert inspection.clip_names == ("animation_0",)
    assert inspection.morph_targets == ("target_0", "target_1")


def test_target_names_on_the_primitive() -> None:
    changes = {"meshes.0.extras": DELETE, "meshes.0.primitives.0.extras": {"targetNames": ["viseme_aa", "blink"]}}
    assert inspect_glb(edited_glb(changes)).morph_targets == ("viseme_aa", "blink")


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04" + b"\x00" * 40, pack_glb(b"[]", None)])
def test_unreadable_files_inspect_empty(data: bytes) -> None:
    inspection = inspect_glb(data)
    assert inspection.clips == ()
    assert inspection.morph_targets == ()


def test_broken_accessors_do_not_break_inspection() -> None:
    document, binary = sample_document()
    document["accessors"][8]["count"] = 2**31
    inspection = inspect_glb(pack_glb(document, binary))
    assert inspection.clips[0].duration_seconds == 0.0


def test_glb_written_by_pygltflib_validates_clean() -> None:
    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    indices = struct.pack("<3H", 0, 1, 2) + b"\x00\x00"
    gltf = pygltflib.GLTF2(
        scene=0,
        scenes=[pygltflib.Scene(nodes=[0])],
        nodes=[pygltflib.Node(mesh=0)],
        meshes=[
            pygltflib.Mesh(primitives=[pygltflib.Primitive(attributes=pygltflib.Attributes(POSITION=0), indices=1)])
        ],
        accessors=[
            pygltflib.Accessor(
                bufferView=0, componentType=pygltflib.FLOAT, count=3, type=pygltflib.VEC3, max=[1, 1, 0], min=[0, 0, 0]
            ),
            pygltflib.Accessor(bufferView=1, componentType=pygltflib.UNSIGNED_SHORT, count=3, type=pygltflib.SCALAR),
        ],
        bufferViews=[
            pygltflib.BufferView(buffer=0, byteOffset=0, byteLength=len(positions)),
            pygltflib.BufferView(buffer=0, byteOffset=len(positions), byteLength=6),
        ],
        buffers=[pygltflib.Buffer(byteLength=len(positions) + len(indices))],
    )
    gltf.set_binary_blob(positions + indices)
    data = b"".join(gltf.save_to_bytes())
    report = validate_glb(data)
    assert report.valid, report.issues
    assert [issue.code for issue in report.warnings] == ["NO_SKIN"]
    assert (report.stats.triangles, report.stats.vertices) == (1, 3)
