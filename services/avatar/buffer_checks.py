"""Checks buffers, buffer views and accessors: every declared byte range must lie inside bytes that exist."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

from services.avatar.check_context import (
    COMPONENT_SIZES,
    TYPE_COMPONENTS,
    AccessorInfo,
    BufferData,
    CheckContext,
    ViewInfo,
    element_size,
)
from services.avatar.gltf_json import JsonObject, as_number, child
from services.avatar.report import echo

MESHOPT = "EXT_meshopt_compression"
_VIEW_TARGETS = (34962, 34963)


def decode_data_uri(uri: str) -> bytes | None:
    """The bytes of a base64 `data:` URI, or None if it is not one or is malformed."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def check_buffers(ctx: CheckContext, bin_chunk: memoryview | None) -> None:
    """Resolve each buffer to the bytes the file carries (BIN chunk or data URI) and check its declared length."""
    reader, issues = ctx.reader, ctx.issues
    bin_used = False
    for item in reader.top("buffers"):
        byte_length = reader.integer(item.obj, "byteLength", item.pointer, required=True, minimum=1)
        uri = reader.string(item.obj, "uri", item.pointer)
        if byte_length is None:
            continue
        data: memoryview | None = None
        if uri is not None:
            if not uri.startswith("data:"):
                issues.error(
                    "EXTERNAL_RESOURCE",
                    f"The buffer refers to the external file {echo(uri)}; avatars must be self-contained .glb files.",
                    child(item.pointer, "uri"),
                )
                continue
            decoded = decode_data_uri(uri)
            if decoded is None:
                issues.error(
                    "INVALID_DATA_URI", "The buffer's data URI is not valid base64.", child(item.pointer, "uri")
                )
                continue
            data = memoryview(decoded)
        elif item.index == 0 and bin_chunk is not None:
            bin_used, data = True, bin_chunk
            if len(bin_chunk) > byte_length + 3:
                issues.warning(
                    "BUFFER_GLB_CHUNK_TOO_BIG",
                    f"The BIN chunk has {len(bin_chunk)} bytes; the buffer uses only {byte_length}.",
                    item.pointer,
                )
        elif item.index == 0:
            issues.error("BUFFER_MISSING_GLB_DATA", "Buffer 0 has no uri but the file has no BIN chunk.", item.pointer)
            continue
        elif _is_meshopt_fallback(item.obj):
            ctx.buffers[item.index] = BufferData(byte_length, None)  # placeholder the decoder fills in
            continue
        else:
            issues.error(
                "BUFFER_MISSING_DATA", "Only buffer 0 may use the BIN chunk; this one has no uri.", item.pointer
            )
            continue
        if len(data) < byte_length:
            issues.error(
                "BUFFER_DATA_TOO_SHORT",
                f"The buffer declares {byte_length} bytes but its data has {len(data)}.",
                item.pointer,
            )
            continue
        ctx.buffers[item.index] = BufferData(byte_length, data[:byte_length])
    if bin_chunk is not None and not bin_used:
        issues.warning("GLB_UNUSED_BIN_CHUNK", "The BIN chunk is not used by buffer 0.", "glb.chunk[1]")


def _is_meshopt_fallback(buffer: JsonObject) -> bool:
    """True for the data-less buffer EXT_meshopt_compression decodes into."""
    extensions = buffer.get("extensions")
    ext = extensions.get(MESHOPT) if isinstance(extensions, dict) else None
    return isinstance(ext, dict) and ext.get("fallback") is True


def check_buffer_views(ctx: CheckContext) -> None:
    """Check each view's range against its buffer and record the views whose bytes can be read."""
    reader, issues = ctx.reader, ctx.issues
    for item in reader.top("bufferViews"):
        buffer_index = reader.index(item.obj, "buffer", item.pointer, "buffers", required=True)
        byte_length = reader.integer(item.obj, "byteLength", item.pointer, required=True, minimum=1)
        byte_offset = reader.integer(item.obj, "byteOffset", item.pointer) or 0
        stride = reader.integer(item.obj, "byteStride", item.pointer)
        if stride is not None and not (4 <= stride <= 252 and stride % 4 == 0):
            issues.error(
                "BUFFER_VIEW_INVALID_STRIDE",
                f"byteStride {stride} is not a multiple of 4 between 4 and 252.",
                child(item.pointer, "byteStride"),
            )
            stride = None
        target = reader.integer(item.obj, "target", item.pointer)
        if target is not None and target not in _VIEW_TARGETS:
            issues.error("VALUE_NOT_IN_LIST", f"target {target} is not 34962 or 34963.", child(item.pointer, "target"))
        buffer = ctx.buffers.get(buffer_index) if buffer_index is not None else None
        if byte_length is None or buffer is None:
            continue
        if byte_offset + byte_length > buffer.byte_length:
            issues.error(
                "BUFFER_VIEW_OUT_OF_BOUNDS",
                f"The view ends at byte {byte_offset + byte_length} of buffer {buffer_index}, "
                f"which has {buffer.byte_length}.",
                item.pointer,
            )
            continue
        compressed = _check_meshopt_view(ctx, item.obj, item.pointer)
        data = None if buffer.data is None or compressed else buffer.data[byte_offset : byte_offset + byte_length]
        ctx.views[item.index] = ViewInfo(byte_length, byte_offset, stride, data)


def _check_meshopt_view(ctx: CheckContext, view: JsonObject, pointer: str) -> bool:
    """Check an EXT_meshopt_compression view's compressed range and decoded size; True if the view is compressed."""
    reader, issues = ctx.reader, ctx.issues
    extensions = reader.obj(view, "extensions", pointer)
    ext = reader.obj(extensions, MESHOPT, child(pointer, "extensions")) if extensions else None
    if ext is None:
        return False
    ext_pointer = child(child(pointer, "extensions"), MESHOPT)
    buffer_index = reader.index(ext, "buffer", ext_pointer, "buffers", required=True)
    byte_length = reader.integer(ext, "byteLength", ext_pointer, required=True, minimum=1)
    byte_offset = reader.integer(ext, "byteOffset", ext_pointer) or 0
    stride = reader.integer(ext, "byteStride", ext_pointer, required=True, minimum=1)
    count = reader.integer(ext, "count", ext_pointer, required=True, minimum=1)
    buffer = ctx.buffers.get(buffer_index) if buffer_index is not None else None
    if buffer is not None and byte_length is not None and byte_offset + byte_length > buffer.byte_length:
        issues.error(
            "BUFFER_VIEW_OUT_OF_BOUNDS",
            f"The compressed data ends at byte {byte_offset + byte_length} of buffer {buffer_index}, "
            f"which has {buffer.byte_length}.",
            ext_pointer,
        )
    if stride is not None and count is not None and stride * count > ctx.limits.max_decoded_bytes:
        issues.error(
            "BUFFER_VIEW_TOO_LARGE",
            f"Decoding would allocate {stride * count} bytes; the limit is {ctx.limits.max_decoded_bytes}.",
            ext_pointer,
        )
    return True


def check_accessors(ctx: CheckContext) -> None:
    """Check each accessor's types and that `offset + stride * (count - 1) + element size` fits its view."""
    reader = ctx.reader
    for item in reader.top("accessors"):
        component_type = reader.integer(item.obj, "componentType", item.pointer, required=True)
        accessor_type = reader.string(item.obj, "type", item.pointer, required=True)
        count = reader.integer(item.obj, "count", item.pointer, required=True, minimum=1)
        byte_offset = reader.integer(item.obj, "byteOffset", item.pointer) or 0
        view_index = reader.index(item.obj, "bufferView", item.pointer, "bufferViews")
        normalized = item.obj.get("normalized") is True
        if component_type is not None and component_type not in COMPONENT_SIZES:
            ctx.issues.error(
                "ACCESSOR_INVALID_COMPONENT_TYPE",
                f"componentType {component_type} is not one of {sorted(COMPONENT_SIZES)}.",
                child(item.pointer, "componentType"),
            )
            component_type = None
        if accessor_type is not None and accessor_type not in TYPE_COMPONENTS:
            ctx.issues.error(
                "ACCESSOR_INVALID_TYPE",
                f"type {echo(accessor_type)} is not one of {', '.join(TYPE_COMPONENTS)}.",
                child(item.pointer, "type"),
            )
            accessor_type = None
        if component_type is None or accessor_type is None or count is None:
            continue
        maximum = item.obj.get("max")
        declared_max = (
            tuple(n for n in map(as_number, maximum[:16]) if n is not None) if isinstance(maximum, list) else ()
        )
        info = AccessorInfo(
            component_type, accessor_type, count, normalized, view_index, byte_offset, declared_max, sound=False
        )
        sound = _fits(ctx, item.pointer, info)
        sound = _check_sparse(ctx, item.obj, item.pointer, info) and sound
        ctx.accessors[item.index] = replace(info, sound=sound)


def _fits(ctx: CheckContext, pointer: str, info: AccessorInfo) -> bool:
    """True if the accessor's elements lie inside its view (or, without a view, stay within the decode limit)."""
    view_index, byte_offset, component_type, count = info.view, info.byte_offset, info.component_type, info.count
    accessor_type = info.accessor_type
    size = element_size(component_type, accessor_type)
    if view_index is None:
        if count * size > ctx.limits.max_decoded_bytes:
            ctx.issues.error(
                "ACCESSOR_TOO_LARGE",
                f"{count} elements of {size} bytes exceed the {ctx.limits.max_decoded_bytes}-byte limit.",
                pointer,
            )
            return False
        return True
    view = ctx.views.get(view_index)
    if view is None:
        return False  # the view's own problem is already reported
    component = COMPONENT_SIZES[component_type]
    if byte_offset % component or (view.byte_offset + byte_offset) % component:
        ctx.issues.error(
            "ACCESSOR_MISALIGNED",
            f"The accessor's data does not start on a multiple of its {component}-byte component size.",
            pointer,
        )
        return False
    stride = view.byte_stride or size
    if stride < size:
        ctx.issues.error(
            "ACCESSOR_STRIDE_TOO_SMALL", f"byteStride {stride} is smaller than the {size}-byte element.", pointer
        )
        return False
    end = byte_offset + stride * (count - 1) + size
    if end > view.byte_length:
        ctx.issues.error(
            "ACCESSOR_OUT_OF_BOUNDS",
            f"{count} elements need {end} bytes of bufferView {view_index}, which has {view.byte_length}.",
            pointer,
        )
        return False
    return True


def _check_sparse(ctx: CheckContext, accessor: JsonObject, pointer: str, info: AccessorInfo) -> bool:
    """Check a sparse substitution's counts and ranges; True when there is none or it is sound."""
    count = info.count
    reader, issues = ctx.reader, ctx.issues
    sparse = reader.obj(accessor, "sparse", pointer)
    if sparse is None:
        return True
    sparse_pointer = child(pointer, "sparse")
    sparse_count = reader.integer(sparse, "count", sparse_pointer, required=True, minimum=1)
    indices = reader.obj(sparse, "indices", sparse_pointer, required=True)
    values = reader.obj(sparse, "values", sparse_pointer, required=True)
    if sparse_count is None or indices is None or values is None:
        return False
    if sparse_count > count:
        issues.error(
            "ACCESSOR_SPARSE_COUNT_OUT_OF_RANGE",
            f"{sparse_count} sparse elements exceed the accessor's {count}.",
            child(sparse_pointer, "count"),
        )
        return False
    index_type = reader.integer(indices, "componentType", child(sparse_pointer, "indices"), required=True)
    if index_type is not None and index_type not in (5121, 5123, 5125):
        issues.error(
            "ACCESSOR_INVALID_COMPONENT_TYPE",
            f"Sparse indices componentType {index_type} is not an unsigned integer type.",
            child(child(sparse_pointer, "indices"), "componentType"),
        )
        return False
    sound = True
    for part, obj, size in (
        ("indices", indices, COMPONENT_SIZES.get(index_type or 0, 0)),
        ("values", values, element_size(info.component_type, info.accessor_type)),
    ):
        part_pointer = child(sparse_pointer, part)
        view_index = reader.index(obj, "bufferView", part_pointer, "bufferViews", required=True)
        offset = reader.integer(obj, "byteOffset", part_pointer) or 0
        view = ctx.views.get(view_index) if view_index is not None else None
        if view is None:
            sound = False
        elif offset + sparse_count * size > view.byte_length:
            issues.error(
                "ACCESSOR_SPARSE_OUT_OF_BOUNDS",
                f"Sparse {part} need {offset + sparse_count * size} bytes of bufferView {view_index}, "
                f"which has {view.byte_length}.",
                part_pointer,
            )
            sound = False
    return sound
