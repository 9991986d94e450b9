"""A tiny but complete glTF 2.0 binary for upload tests: a skinned triangle, two clips, two viseme morphs."""

from __future__ import annotations

import json
import struct
from typing import Any

FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT = 5126, 5121, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
CLIPS = ("Idle", "Wave")
MORPHS = ("viseme_aa", "viseme_PP")


class _Blob:
    """Collects buffer views (4-byte aligned) and accessors."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, raw: bytes, component: int, count: int, kind: str, target: int | None = None, **extra: Any) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.data.extend(raw)
        self.views.append(view)
        self.accessors.append(
            {"bufferView": len(self.views) - 1, "componentType": component, "count": count, "type": kind, **extra}
        )
        return len(self.accessors) - 1


def _floats(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def sample_glb() -> bytes:
    """The model as .glb bytes (deterministic)."""
    blob = _Blob()
    positions = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    pos = blob.add(_floats(positions), FLOAT, 3, "VEC3", ARRAY_BUFFER, min=[0.0, 0.0, 0.0], max=[1.0, 1.0, 0.0])
    normal = blob.add(_floats([0.0, 0.0, 1.0] * 3), FLOAT, 3, "VEC3", ARRAY_BUFFER)
    joints = blob.add(bytes([0, 0, 0, 0] * 3), UNSIGNED_BYTE, 3, "VEC4", ARRAY_BUFFER)
    weights = blob.add(_floats([1.0, 0.0, 0.0, 0.0] * 3), FLOAT, 3, "VEC4", ARRAY_BUFFER)
    indices = blob.add(struct.pack("<3H", 0, 1, 2), UNSIGNED_SHORT, 3, "SCALAR", ELEMENT_ARRAY_BUFFER)
    targets = []
    for shift in (0.1, 0.2):
        delta = [0.0, shift, 0.0] * 3
        acc = blob.add(_floats(delta), FLOAT, 3, "VEC3", ARRAY_BUFFER, min=[0.0, shift, 0.0], max=[0.0, shift, 0.0])
        targets.append({"POSITION": acc})
    identity = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    inverse_bind = blob.add(_floats(identity), FLOAT, 1, "MAT4")
    times = blob.add(_floats([0.0, 1.0]), FLOAT, 2, "SCALAR", min=[0.0], max=[1.0])
    animations = []
    for clip, angle in zip(CLIPS, (0.0, 0.38268343), strict=True):
        turn = blob.add(_floats([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, angle, 0.92387953 if angle else 1.0]), FLOAT, 2, "VEC4")
        animations.append(
            {
                "name": clip,
                "samplers": [{"input": times, "output": turn, "interpolation": "LINEAR"}],
                "channels": [{"sampler": 0, "target": {"node": 1, "path": "rotation"}}],
            }
        )
    attributes = {"POSITION": pos, "NORMAL": normal, "JOINTS_0": joints, "WEIGHTS_0": weights}
    document = {
        "asset": {"version": "2.0", "generator": "avatarchat chatbot tests"},
        "scene": 0,
        "scenes": [{"nodes": [0, 1]}],
        "nodes": [{"name": "Body", "mesh": 0, "skin": 0}, {"name": "Hips"}],
        "meshes": [
            {
                "name": "Body",
                "primitives": [{"attributes": attributes, "indices": indices, "targets": targets}],
                "weights": [0.0, 0.0],
                "extras": {"targetNames": list(MORPHS)},
            }
        ],
        "skins": [{"joints": [1], "inverseBindMatrices": inverse_bind}],
        "animations": animations,
        "buffers": [{"byteLength": len(blob.data) + (-len(blob.data) % 4)}],
        "bufferViews": blob.views,
        "accessors": blob.accessors,
    }
    json_chunk = json.dumps(document, separators=(",", ":")).encode()
    json_chunk += b" " * (-len(json_chunk) % 4)
    bin_chunk = bytes(blob.data) + b"\0" * (-len(blob.data) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return (
        struct.pack("<III", 0x46546C67, 2, total)
        + struct.pack("<II", len(json_chunk), 0x4E4F534A)
        + json_chunk
        + struct.pack("<II", len(bin_chunk), 0x004E4942)
        + bin_chunk
    )
