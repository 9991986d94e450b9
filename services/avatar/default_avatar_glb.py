"""A minimal glTF 2.0 binary (.glb) writer: one buffer, unstrided views, sorted JSON, deterministic bytes."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

#: glTF component types and buffer-view targets (glTF 2.0 §5.1.3, §5.11.4).
UNSIGNED_BYTE = 5121
UNSIGNED_SHORT = 5123
FLOAT = 5126
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963

_GLB_MAGIC = 0x46546C67
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_COMPONENTS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}

Json = dict[str, Any]


def json_float(value: float | np.floating[Any]) -> float:
    """The shortest decimal that reads back as the same float32, so JSON numbers stay short and exact."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


def _float_array(values: npt.ArrayLike, kind: str) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32).reshape(-1, _COMPONENTS[kind]))


def _pad(data: bytes | bytearray, fill: bytes) -> bytes:
    """`data` padded with `fill` to a multiple of four bytes, as GLB chunks and buffer views need."""
    return bytes(data) + fill * (-len(data) % 4)


class GlbBuilder:
    """Collects binary data as accessors, then wraps a glTF document and the buffer into a .glb file."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._views: list[Json] = []
        self._accessors: list[Json] = []
        # Packs of non-vertex data, one buffer view each, and which accessors point into which pack.
        self._packs: dict[str, bytearray] = {}
        self._packed: dict[int, str] = {}
        # Equal packed data (shared keyframe times, repeated poses) is stored once and its accessor reused.
        self._pack_cache: dict[tuple[str, bytes, str, bool], int] = {}

    def _view(self, data: bytes, target: int | None) -> int:
        """Appends a buffer view starting on a 4-byte boundary; no byteStride, since nothing is interleaved."""
        self._blob.extend(b"\0" * (-len(self._blob) % 4))
        view: Json = {"buffer": 0, "byteOffset": len(self._blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self._blob.extend(data)
        self._views.append(view)
        return len(self._views) - 1

    def _accessor(self, accessor: Json) -> int:
        self._accessors.append(accessor)
        return len(self._accessors) - 1

    @staticmethod
    def _float_accessor(array: npt.NDArray[np.float32], kind: str, bounds: bool) -> Json:
        accessor: Json = {"componentType": FLOAT, "count": len(array), "type": kind}
        if bounds:
            accessor["min"] = [json_float(v) for v in array.min(axis=0)]
            accessor["max"] = [json_float(v) for v in array.max(axis=0)]
        return accessor

    def vertex_floats(self, values: npt.ArrayLike, kind: str, *, bounds: bool = False) -> int:
        """A float32 vertex attribute in a buffer view of its own; `bounds` adds min/max (POSITION needs them)."""
        array = _float_array(values, kind)
        accessor = self._float_accessor(array, kind, bounds)
        accessor["bufferView"] = self._view(array.tobytes(), ARRAY_BUFFER)
        return self._accessor(accessor)

    def packed_floats(self, values: npt.ArrayLike, kind: str, pack: str, *, bounds: bool = False) -> int:
        """A float32 accessor packed into the shared view `pack` (one per use: validators want a view to serve one)."""
        array = _float_array(values, kind)
        data = array.tobytes()
        key = (pack, data, kind, bounds)
        if key in self._pack_cache:
            return self._pack_cache[key]
        blob = self._packs.setdefault(pack, bytearray())
        accessor = self._float_accessor(array, kind, bounds)
        accessor["byteOffset"] = len(blob)
        blob.extend(data)
        index = self._accessor(accessor)
        self._packed[index] = pack
        self._pack_cache[key] = index
        return index

    def zeros(self, count: int, kind: str) -> int:
        """A float accessor without a buffer view, which glTF defines as all zeros (unmoved morph vertices)."""
        accessor: Json = {"componentType": FLOAT, "count": count, "type": kind}
        if kind == "VEC3":
            # Morph-target POSITION accessors need bounds like any other POSITION accessor.
            accessor["min"] = [0.0, 0.0, 0.0]
            accessor["max"] = [0.0, 0.0, 0.0]
        return self._accessor(accessor)

    def indices(self, values: npt.NDArray[np.integer[Any]]) -> int:
        """An unsigned-short index accessor; the meshes stay under 65,536 vertices each."""
        array = np.asarray(values).reshape(-1)
        if array.size and int(array.max()) > 0xFFFF:
            raise ValueError("index out of unsigned short range")
        data = array.astype("<u2").tobytes()
        return self._accessor(
            {
                "bufferView": self._view(data, ELEMENT_ARRAY_BUFFER),
                "componentType": UNSIGNED_SHORT,
                "count": int(array.size),
                "type": "SCALAR",
            }
        )

    def bytes_vec4(self, values: npt.NDArray[np.uint8], *, normalized: bool) -> int:
        """A VEC4 unsigned-byte vertex accessor (JOINTS_0, or WEIGHTS_0 when `normalized`)."""
        array = np.ascontiguousarray(np.asarray(values, dtype=np.uint8).reshape(-1, 4))
        accessor: Json = {
            "bufferView": self._view(array.tobytes(), ARRAY_BUFFER),
            "componentType": UNSIGNED_BYTE,
            "count": len(array),
            "type": "VEC4",
        }
        if normalized:
            accessor["normalized"] = True
        return self._accessor(accessor)

    def glb(self, document: Json) -> bytes:
        """The .glb file: `document` plus the buffer, buffer views and accessors collected so far."""
        blob = bytearray(self._blob)
        views = list(self._views)
        pack_views: dict[str, int] = {}
        for name, data in self._packs.items():
            # Packed views go after every vertex view; their accessors learn the view index here.
            blob.extend(b"\0" * (-len(blob) % 4))
            views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
            blob.extend(data)
            pack_views[name] = len(views) - 1
        accessors = [
            dict(accessor, bufferView=pack_views[self._packed[i]]) if i in self._packed else accessor
            for i, accessor in enumerate(self._accessors)
        ]
        bin_chunk = _pad(blob, b"\0")
        document = dict(document, accessors=accessors, bufferViews=views, buffers=[{"byteLength": len(bin_chunk)}])
        # Sorted keys and fixed separators keep the JSON chunk byte-identical from run to run.
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
        json_chunk = _pad(text.encode("utf-8"), b" ")
        total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
        return b"".join(
            [
                struct.pack("<III", _GLB_MAGIC, 2, total),
                struct.pack("<II", len(json_chunk), _CHUNK_JSON),
                json_chunk,
                struct.pack("<II", len(bin_chunk), _CHUNK_BIN),
                bin_chunk,
            ]
        )
