"""Builds small GLB files for the avatar tests: one valid avatar, and GLB packing that can lie on purpose."""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path
from typing import Any

ROBOT = Path(__file__).resolve().parents[3].parent / "shared/assets/avatars/robot-expressive.glb"

Document = dict[str, Any]

FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT = 5126, 5121, 5123
CHUNK_JSON, CHUNK_BIN = 0x4E4F534A, 0x004E4942


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A real PNG of the given size (one grey row repeated), small enough for tests."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" + b"\x80" * width) * min(height, 4)  # only the header matters to the validator
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pad4(data: bytes, fill: bytes = b"\x00") -> bytes:
    """Pad to a multiple of four bytes."""
    return data + fill * (-len(data) % 4)


def chunk(chunk_type: int, content: bytes, *, declared_length: int | None = None) -> bytes:
    """One GLB chunk; `declared_length` lets a test lie about its size."""
    length = len(content) if declared_length is None else declared_length
    return struct.pack("<II", length, chunk_type) + content


def pack_glb(
    document: Document | bytes,
    binary: bytes | None,
    *,
    version: int = 2,
    total_length: int | None = None,
    json_length: int | None = None,
    bin_length: int | None = None,
) -> bytes:
    """A GLB of a JSON document (or raw JSON bytes) and an optional BIN chunk; any length may be overridden."""
    raw = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
    body = chunk(CHUNK_JSON, pad4(raw, b" "), declared_length=json_length)
    if binary is not None:
        body += chunk(CHUNK_BIN, pad4(binary), declared_length=bin_length)
    length = 12 + len(body) if total_length is None else total_length
    return b"glTF" + struct.pack("<II", version, length) + body


class _Bin:
    """Accumulates the BIN chunk, one 4-byte-aligned buffer view per piece."""

    def __init__(self) -> None:
        self.data = b""
        self.views: list[Document] = []

    def add(self, piece: bytes) -> int:
        """Append a piece as a new buffer view; returns the view's index."""
        self.views.append({"buffer": 0, "byteOffset": len(self.data), "byteLength": len(piece)})
        self.data = pad4(self.data + piece)
        return len(self.views) - 1


def _floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def sample_document(image: bytes | None = None) -> tuple[Document, bytes]:
    """A small valid avatar: a skinned, textured triangle with two named morph targets and one clip."""
    binary = _Bin()
    identity = (1.0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)
    pieces = [
        (_floats(0, 0, 0, 1, 0, 0, 0, 1, 0), FLOAT, "VEC3", 3),  # 0 POSITION
        (_floats(0, 0, 1, 0, 0, 1), FLOAT, "VEC2", 3),  # 1 TEXCOORD_0
        (bytes([0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]), UNSIGNED_BYTE, "VEC4", 3),  # 2 JOINTS_0
        (_floats(*([1.0, 0, 0, 0] * 3)), FLOAT, "VEC4", 3),  # 3 WEIGHTS_0
        (_floats(0, 0, 0, 0, -0.1, 0, 0, -0.1, 0), FLOAT, "VEC3", 3),  # 4 target "jawOpen"
        (_floats(0, 0, 0, 0.1, 0, 0, 0, 0.1, 0), FLOAT, "VEC3", 3),  # 5 target "mouthSmile"
        (struct.pack("<3H", 0, 1, 2), UNSIGNED_SHORT, "SCALAR", 3),  # 6 indices
        (_floats(*(identity * 2)), FLOAT, "MAT4", 2),  # 7 inverse bind matrices
        (_floats(0.0, 1.5), FLOAT, "SCALAR", 2),  # 8 key times
        (_floats(0, 0, 0, 1, 0, 0.7071, 0, 0.7071), FLOAT, "VEC4", 2),  # 9 rotations
        (_floats(0, 0, 1, 1), FLOAT, "SCALAR", 4),  # 10 morph weights
    ]
    accessors: list[Document] = []
    for piece, component_type, accessor_type, count in pieces:
        view = binary.add(piece)
        accessors.append({"bufferView": view, "componentType": component_type, "type": accessor_type, "count": count})
    accessors[0].update({"min": [0, 0, 0], "max": [1, 1, 0]})
    accessors[8].update({"min": [0.0], "max": [1.5]})
    image_view = binary.add(png_bytes(64, 32) if image is None else image)
    document: Document = {
        "asset": {"version": "2.0", "generator": "avatarchat tests"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [
            {"name": "root", "children": [1, 2]},
            {"name": "body", "mesh": 0, "skin": 0},
            {"name": "hips", "children": [3]},
            {"name": "head", "translation": [0, 1, 0]},
        ],
        "meshes": [
            {
                "name": "face",
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "TEXCOORD_0": 1, "JOINTS_0": 2, "WEIGHTS_0": 3},
                        "indices": 6,
                        "material": 0,
                        "targets": [{"POSITION": 4}, {"POSITION": 5}],
                    }
                ],
                "weights": [0, 0],
                "extras": {"targetNames": ["jawOpen", "mouthSmile"]},
            }
        ],
        "skins": [{"joints": [2, 3], "inverseBindMatrices": 7}],
        "animations": [
            {
                "name": "Armature|Wave",
                "samplers": [{"input": 8, "output": 9}, {"input": 8, "output": 10, "interpolation": "STEP"}],
                "channels": [
                    {"sampler": 0, "target": {"node": 3, "path": "rotation"}},
                    {"sampler": 1, "target": {"node": 1, "path": "weights"}},
                ],
            }
        ],
        "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [{}],
        "images": [{"bufferView": image_view, "mimeType": "image/png"}],
        "accessors": accessors,
        "bufferViews": binary.views,
        "buffers": [{"byteLength": len(binary.data)}],
    }
    return document, binary.data


def sample_glb() -> bytes:
    """The sample avatar as a GLB file."""
    document, binary = sample_document()
    return pack_glb(document, binary)


def edited_glb(changes: dict[str, Any], *, image: bytes | None = None) -> bytes:
    """The sample avatar after setting values at dotted JSON paths like "accessors.0.count" (DELETE removes)."""
    document, binary = sample_document(image)
    document = copy.deepcopy(document)
    for path, value in changes.items():
        set_path(document, path.split("."), value)
    return pack_glb(document, binary)


def set_path(document: Any, path: list[str], value: Any) -> None:
    """Set (or, for the sentinel DELETE, remove) the member at a dotted path of strings and list indices."""
    target = document
    for step in path[:-1]:
        target = target[int(step)] if isinstance(target, list) else target[step]
    last = path[-1]
    if isinstance(target, list):
        if value is DELETE:
            del target[int(last)]
        else:
            target[int(last)] = value
    elif value is DELETE:
        del target[last]
    else:
        target[last] = value


DELETE: Any = object()
