"""Mutations of a valid GLB for fuzzing the validator, as plain data so Hypothesis and the bench script share them."""

from __future__ import annotations

import copy
import random
import struct
from dataclasses import dataclass
from typing import Any, Literal

from tests.services.avatar.glb_samples import Document, pack_glb

LengthField = Literal["total", "json", "bin"]


@dataclass(frozen=True)
class FlipBytes:
    """XOR bytes at positions (taken modulo the file length)."""

    edits: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Truncate:
    """Cut the file to `length` bytes (modulo its length + 1)."""

    length: int


@dataclass(frozen=True)
class InsertBytes:
    """Insert bytes at a position (modulo the file length + 1)."""

    position: int
    data: bytes


@dataclass(frozen=True)
class SetLength:
    """Overwrite the header's total length or a chunk's declared length."""

    field: LengthField
    value: int


@dataclass(frozen=True)
class EditJson:
    """Replace the JSON value at one path (chosen modulo the number of paths) before packing."""

    path_index: int
    value: Any


@dataclass(frozen=True)
class DeleteJson:
    """Remove the JSON member or element at one path before packing."""

    path_index: int


Mutation = FlipBytes | Truncate | InsertBytes | SetLength | EditJson | DeleteJson


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


#: Values that break assumptions: huge and negative counts, wrong types, NaN, deep nesting, hostile URIs.
HOSTILE_VALUES: tuple[Any, ...] = (
    -1, 0, 1, 2, 3, 4, 255, 256, 65535, 2**31 - 1, 2**31, 2**32, 2**53, 2**64, -(2**63), 0.5, 1e308, -0.0,
    float("nan"), float("inf"), "", "x", "SCALAR", "VEC3", "MAT4", "CUBICSPLINE", "weights", "2.0", "3.0",
    "data:,", "data:image/png;base64,AAAA", "data:application/octet-stream;base64,!!", "../../etc/passwd",
    "http://example.com/x.bin", "KHR_draco_mesh_compression", "EXT_meshopt_compression", "\u0000", "\ud800",
    "\ud7ff" * 3,
    [], [0], [-1], [2**31], [0, 0, 0], {}, {"a": 1}, {"bufferView": 0}, None, True, False, _nested(60),
)  # fmt: skip


def json_paths(document: Any) -> list[tuple[str | int, ...]]:
    """Every path to a member or element of the document, parents before children."""
    paths: list[tuple[str | int, ...]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    seen: set[int] = set()
    while stack:
        path, value = stack.pop()
        children: list[tuple[str | int, Any]] = []
        if isinstance(value, dict | list):
            # A container reached twice is shared, and possibly its own ancestor: walking a cycle has no end
            # and once grew this list to 23 GB. Fail at once instead.
            if id(value) in seen:
                raise ValueError(f"the document shares a container at {path}; it must be a tree")
            seen.add(id(value))
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        for key, child in children:
            paths.append((*path, key))
            stack.append(((*path, key), child))
    return paths


def _edit(document: Document, path: tuple[str | int, ...], value: Any, *, delete: bool) -> None:
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        # A copy: the values are shared constants (HOSTILE_VALUES) and one Hypothesis example; inserting the
        # object itself let a later edit inside it change the constant, or put it inside itself.
        target[path[-1]] = copy.deepcopy(value)


def _set_length(data: bytearray, field: LengthField, value: int) -> None:
    offsets = {"total": 8, "json": 12}
    if field == "bin" and len(data) >= 20:
        json_length = struct.unpack_from("<I", data, 12)[0]
        offsets["bin"] = 20 + json_length
    offset = offsets.get(field)
    if offset is not None and offset + 4 <= len(data):
        struct.pack_into("<I", data, offset, value % 2**32)


def apply_mutations(document: Document, binary: bytes, mutations: list[Mutation]) -> bytes:
    """The GLB of the document after its JSON edits, then the byte-level mutations in order."""
    edited = copy.deepcopy(document)
    for mutation in mutations:
        if isinstance(mutation, EditJson | DeleteJson):
            paths = json_paths(edited)
            if paths:
                path = paths[mutation.path_index % len(paths)]
                value = mutation.value if isinstance(mutation, EditJson) else None
                _edit(edited, path, value, delete=isinstance(mutation, DeleteJson))
    data = bytearray(pack_glb(edited, binary))
    for mutation in mutations:
        if isinstance(mutation, FlipBytes) and data:
            for position, mask in mutation.edits:
                data[position % len(data)] ^= mask
        elif isinstance(mutation, Truncate):
            del data[mutation.length % (len(data) + 1) :]
        elif isinstance(mutation, InsertBytes):
            position = mutation.position % (len(data) + 1)
            data[position:position] = mutation.data
        elif isinstance(mutation, SetLength):
            _set_length(data, mutation.field, mutation.value)
    return bytes(data)


def random_mutation(rng: random.Random) -> Mutation:
    """One mutation drawn at random for the bench script; half edit the JSON so deeper checks run too."""
    kind = rng.choice(("flip", "truncate", "insert", "length", "edit", "edit", "edit", "delete"))
    if kind == "flip":
        return FlipBytes(tuple((rng.randrange(1 << 20), rng.randrange(1, 256)) for _ in range(rng.randint(1, 8))))
    if kind == "truncate":
        return Truncate(rng.randrange(1 << 20))
    if kind == "insert":
        return InsertBytes(rng.randrange(1 << 20), rng.randbytes(rng.randint(1, 16)))
    if kind == "length":
        value = rng.choice((0, 1, 3, 4, 8, 12, 2**31, 2**32 - 1, rng.randrange(2**32), rng.randrange(1 << 12)))
        return SetLength(rng.choice(("total", "json", "bin")), value)
    if kind == "edit":
        return EditJson(rng.randrange(1 << 20), rng.choice(HOSTILE_VALUES))
    return DeleteJson(rng.randrange(1 << 20))
