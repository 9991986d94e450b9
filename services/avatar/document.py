"""Opens a GLB file as far as both validation and inspection need: container, JSON, extensions and binary data."""

from __future__ import annotations

from services.avatar.buffer_checks import check_accessors, check_buffer_views, check_buffers
from services.avatar.check_context import CheckContext
from services.avatar.extensions import check_extensions
from services.avatar.glb_container import read_container
from services.avatar.gltf_json import DocumentReader, decode_json
from services.avatar.report import IssueCollector, ValidationLimits


def open_document(data: bytes, limits: ValidationLimits, issues: IssueCollector) -> CheckContext | None:
    """The checked document with its buffers, views and accessors resolved, or None if there is no JSON to read."""
    if len(data) > limits.max_file_size:
        issues.error("FILE_TOO_LARGE", f"The file is {len(data)} bytes; the limit is {limits.max_file_size}.")
        return None
    container = read_container(data, limits, issues)
    if container.json_bytes is None:
        return None
    root = decode_json(container.json_bytes, container.json_pointer, issues)
    if root is None:
        return None
    reader = DocumentReader(root, issues, limits.max_array_items)
    used, required = check_extensions(reader)
    ctx = CheckContext(reader, limits, frozenset(used), (used, required), scan_budget=limits.index_scan_bytes)
    check_buffers(ctx, container.bin_chunk)
    check_buffer_views(ctx)
    check_accessors(ctx)
    return ctx
