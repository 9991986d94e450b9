"""Reads the binary glTF (GLB) container: header, chunks, the JSON chunk and the BIN chunk.

We parse the container ourselves rather than with `pygltflib.GLTF2.load_from_bytes`, which trusts the
file: it loops up to the *declared* total length, slices with declared chunk lengths, raises
AttributeError on a BIN chunk before the JSON one and warns on unknown chunks. Here every length is
checked against the bytes actually present before it is used, and every problem becomes an issue.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from services.avatar.report import IssueCollector, ValidationLimits

GLB_MAGIC = b"glTF"
GLB_VERSION = 2
HEADER_SIZE = 12
CHUNK_HEADER_SIZE = 8
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942

#: Leading bytes of files people upload by mistake, to say what the file is instead of "bad magic".
_KNOWN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (a zipped model or a .vrm/.usdz renamed?)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"Kaydara FBX", "an FBX model (convert it to .glb first)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{", "glTF JSON (.gltf) rather than binary .glb"),
)


@dataclass(frozen=True)
class GlbContainer:
    """The chunks of a GLB file that could be located."""

    json_bytes: bytes | None
    """The JSON chunk's content, when present, in bounds and not larger than the limit."""
    json_pointer: str
    """Where the JSON chunk is, e.g. "glb.chunk[0]"."""
    bin_chunk: memoryview | None
    """The BIN chunk's content (a view, not a copy), when present."""


def describe_signature(data: bytes) -> str:
    """What a file that is not GLB looks like, for the error message."""
    head = data[:16].lstrip()
    for signature, what in _KNOWN_SIGNATURES:
        if head.startswith(signature):
            return what
    return "not a binary glTF file"


def read_container(data: bytes, limits: ValidationLimits, issues: IssueCollector) -> GlbContainer:
    """Locate the JSON and BIN chunks, reporting every container problem."""
    empty = GlbContainer(None, "glb.chunk[0]", None)
    if not data:
        issues.error("GLB_TRUNCATED", "The file is empty.", "glb.header")
        return empty
    if len(data) < HEADER_SIZE or data[:4] != GLB_MAGIC:
        if GLB_MAGIC.startswith(data[:4]):
            issues.error(
                "GLB_TRUNCATED", f"The file ends inside the 12-byte GLB header ({len(data)} bytes).", "glb.header"
            )
        else:
            issues.error(
                "GLB_INVALID_MAGIC", f"The file does not start with 'glTF': {describe_signature(data)}.", "glb.header"
            )
        return empty
    version, declared_length = struct.unpack_from("<II", data, 4)
    if version != GLB_VERSION:
        issues.error("GLB_UNSUPPORTED_VERSION", f"GLB version {version} is not 2.", "glb.header")
        return empty
    if declared_length != len(data):
        issues.error(
            "GLB_LENGTH_MISMATCH",
            f"The header declares {declared_length} bytes but the file has {len(data)}.",
            "glb.header",
        )
    return _read_chunks(data, limits, issues)


@dataclass(frozen=True)
class _Chunk:
    """A chunk whose declared length fits inside the file."""

    index: int
    chunk_type: int
    content: memoryview

    @property
    def pointer(self) -> str:
        """Its location for issues."""
        return f"glb.chunk[{self.index}]"


def _split_chunks(data: bytes, limits: ValidationLimits, issues: IssueCollector) -> tuple[list[_Chunk], bool]:
    """The chunks after the header, and False if the walk stopped at one that does not fit in the file."""
    view = memoryview(data)
    chunks: list[_Chunk] = []
    offset = HEADER_SIZE
    while offset < len(data):
        index = len(chunks)
        pointer = f"glb.chunk[{index}]"
        if index >= limits.max_chunks:
            issues.error("GLB_TOO_MANY_CHUNKS", f"More than {limits.max_chunks} chunks; the rest is ignored.", pointer)
            return chunks, False
        if len(data) - offset < CHUNK_HEADER_SIZE:
            issues.error("GLB_CHUNK_TRUNCATED", f"The file ends inside the header of chunk {index}.", pointer)
            return chunks, False
        length, chunk_type = struct.unpack_from("<II", data, offset)
        start = offset + CHUNK_HEADER_SIZE
        if length > len(data) - start:
            issues.error(
                "GLB_CHUNK_TRUNCATED",
                f"Chunk {index} declares {length} bytes but only {len(data) - start} remain.",
                pointer,
            )
            return chunks, False
        if length % 4:
            issues.error("GLB_CHUNK_UNALIGNED", f"Chunk {index} is {length} bytes, not a multiple of 4.", pointer)
        chunks.append(_Chunk(index, chunk_type, view[start : start + length]))
        offset = start + length
    return chunks, True


def _read_chunks(data: bytes, limits: ValidationLimits, issues: IssueCollector) -> GlbContainer:
    """Pick the JSON and BIN chunks, reporting misplaced, duplicate and unknown chunks."""
    chunks, complete = _split_chunks(data, limits, issues)
    json_chunks = [chunk for chunk in chunks if chunk.chunk_type == CHUNK_JSON]
    bin_chunks = [chunk for chunk in chunks if chunk.chunk_type == CHUNK_BIN]
    if chunks and chunks[0].chunk_type != CHUNK_JSON:
        issues.error("GLB_FIRST_CHUNK_NOT_JSON", "The first chunk must be the JSON chunk.", "glb.chunk[0]")
    elif bin_chunks and bin_chunks[0].index != 1:
        issues.error("GLB_BIN_CHUNK_MISPLACED", "The BIN chunk must be the second chunk.", bin_chunks[0].pointer)
    for extra in json_chunks[1:] + bin_chunks[1:]:
        issues.error(
            "GLB_DUPLICATE_CHUNK", "A second chunk of the same type; at most one of each is allowed.", extra.pointer
        )
    for chunk in chunks:
        if chunk.chunk_type not in (CHUNK_JSON, CHUNK_BIN):
            issues.warning(
                "GLB_UNKNOWN_CHUNK",
                f"Chunk {chunk.index} has unknown type 0x{chunk.chunk_type:08x}; ignored.",
                chunk.pointer,
            )
    bin_chunk = bin_chunks[0].content if bin_chunks else None
    if not json_chunks:
        if complete:
            issues.error("GLB_MISSING_JSON_CHUNK", "The file has no JSON chunk.", "glb.chunk[0]")
        return GlbContainer(None, "glb.chunk[0]", bin_chunk)
    json_chunk = json_chunks[0]
    if len(json_chunk.content) > limits.max_json_size:
        issues.error(
            "JSON_TOO_LARGE",
            f"The JSON chunk is {len(json_chunk.content)} bytes; the limit is {limits.max_json_size}.",
            json_chunk.pointer,
        )
        return GlbContainer(None, json_chunk.pointer, bin_chunk)
    return GlbContainer(bytes(json_chunk.content), json_chunk.pointer, bin_chunk)
