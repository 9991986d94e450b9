"""What the validation checks share: the document reader, the limits, and what earlier checks learnt about the data."""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass, field

import pygltflib  # type: ignore[import-untyped]

from services.avatar.gltf_json import DocumentReader
from services.avatar.report import IssueCollector, ValidationLimits

#: Bytes per component of each accessor componentType (the constants are pygltflib's).
COMPONENT_SIZES: dict[int, int] = {
    pygltflib.BYTE: 1,
    pygltflib.UNSIGNED_BYTE: 1,
    pygltflib.SHORT: 2,
    pygltflib.UNSIGNED_SHORT: 2,
    pygltflib.UNSIGNED_INT: 4,
    pygltflib.FLOAT: 4,
}
#: Components per element of each accessor type.
TYPE_COMPONENTS: dict[str, int] = {
    pygltflib.SCALAR: 1,
    pygltflib.VEC2: 2,
    pygltflib.VEC3: 3,
    pygltflib.VEC4: 4,
    pygltflib.MAT2: 4,
    pygltflib.MAT3: 9,
    pygltflib.MAT4: 16,
}
#: Component types an index accessor may have, with the `array` typecode to read them.
INDEX_TYPECODES: dict[int, str] = {
    pygltflib.UNSIGNED_BYTE: "B",
    pygltflib.UNSIGNED_SHORT: "H",
    pygltflib.UNSIGNED_INT: "I",
}
FLOAT: int = pygltflib.FLOAT


def element_size(component_type: int, accessor_type: str) -> int:
    """Bytes per element, including the column padding the spec requires for small-component matrices."""
    size = COMPONENT_SIZES[component_type]
    if accessor_type == pygltflib.MAT2 and size == 1:
        return 8
    if accessor_type == pygltflib.MAT3 and size in (1, 2):
        return 12 if size == 1 else 24
    return TYPE_COMPONENTS[accessor_type] * size


@dataclass(frozen=True)
class BufferData:
    """A buffer's declared length and, when the file carries them, its bytes."""

    byte_length: int
    data: memoryview | None


@dataclass(frozen=True)
class ViewInfo:
    """A buffer view whose range was checked."""

    byte_length: int
    byte_offset: int
    byte_stride: int | None
    data: memoryview | None
    """The view's bytes: None when out of bounds, external, or meshopt-compressed (not raw data)."""


@dataclass(frozen=True)
class AccessorInfo:
    """An accessor whose types and byte range were checked."""

    component_type: int
    accessor_type: str
    count: int
    normalized: bool
    view: int | None
    byte_offset: int
    declared_max: tuple[float, ...]
    sound: bool
    """True when its types are valid and its declared count fits the bytes (or limits) behind it."""


@dataclass
class CheckContext:
    """Shared state of one validation run."""

    reader: DocumentReader
    limits: ValidationLimits
    extensions_used: frozenset[str]
    declared_extensions: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    """The file's extensionsUsed and extensionsRequired, in file order."""
    buffers: dict[int, BufferData] = field(default_factory=dict)
    views: dict[int, ViewInfo] = field(default_factory=dict)
    accessors: dict[int, AccessorInfo] = field(default_factory=dict)
    scan_budget: int = 0
    """Bytes of index data that may still be read."""

    @property
    def issues(self) -> IssueCollector:
        """Where issues go."""
        return self.reader.issues

    def sound_accessor(self, index: int | None) -> AccessorInfo | None:
        """The accessor at `index` if it passed its checks."""
        info = self.accessors.get(index) if index is not None else None
        return info if info is not None and info.sound else None

    def read_indices(self, info: AccessorInfo) -> array[int] | None:
        """The values of a tightly packed unsigned-integer accessor, within the scan budget; None if unreadable."""
        typecode = INDEX_TYPECODES.get(info.component_type)
        view = self.views.get(info.view) if info.view is not None else None
        if typecode is None or view is None or view.data is None or view.byte_stride not in (None, 0):
            return None
        size = COMPONENT_SIZES[info.component_type]
        total = info.count * size
        if total > self.scan_budget or info.byte_offset + total > len(view.data):
            return None
        self.scan_budget -= total
        values = array(typecode)
        if values.itemsize != size:  # e.g. a platform where "I" is not 4 bytes; skip rather than misread
            return None
        values.frombytes(view.data[info.byte_offset : info.byte_offset + total])
        if sys.byteorder == "big":
            values.byteswap()
        return values

    def read_last_float(self, info: AccessorInfo) -> float | None:
        """The last component of a FLOAT accessor, e.g. the end time of an animation input; None if unreadable."""
        view = self.views.get(info.view) if info.view is not None else None
        if info.component_type != FLOAT or view is None or view.data is None:
            return None
        stride = view.byte_stride or element_size(info.component_type, info.accessor_type)
        start = info.byte_offset + stride * (info.count - 1)
        if start + 4 > len(view.data):
            return None
        value = array("f")
        value.frombytes(view.data[start : start + 4])
        if sys.byteorder == "big":
            value.byteswap()
        return float(value[0])
