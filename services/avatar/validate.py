"""Checks of avatar requests: resource names, upload metadata, optimization options."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from avatarchat.avatar.v1 import avatar_pb2
from services.runtime import errors, names
from services.runtime.validation import Checks

AVATAR_PATTERN = "tenants/{tenant}/avatars/{avatar}"
PREVIEW_PATTERN = "tenants/{tenant}/avatars/{avatar}/preview"
MAP_PATTERN = "tenants/{tenant}/avatars/{avatar}/animationMap"

#: Limits of avatar.proto: a chunk, a whole upload and an inline ValidateAvatar model.
MAX_CHUNK_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_INLINE_BYTES = 3 * 1024 * 1024
MAX_FILENAME = 255
TEXTURE_SIZES = (0, 256, 512, 1024, 2048, 4096)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSIONS = (".glb", ".vrm")


def ids(name: str, pattern: str = AVATAR_PATTERN, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
    """The tenant and avatar ids of an avatar name (or of its preview or animationMap)."""
    parsed = names.parse(name, pattern, field)
    return parsed["tenant"], parsed["avatar"]


@dataclass(frozen=True)
class UploadMetadata:
    """The checked first message of an upload."""

    tenant_id: uuid.UUID
    display_name: str
    filename: str
    size_bytes: int
    content_sha256: str


def upload_metadata(meta: avatar_pb2.UploadAvatarMetadata) -> UploadMetadata:
    """The metadata with every wrong field reported at once (fields under `metadata.`)."""
    checks = Checks()
    tenant_id = uuid.UUID(int=0)
    try:
        tenant_id = names.parse_tenant(meta.parent, "metadata.parent")
    except errors.InvalidArgument as exc:
        checks.violations += exc.violations
    filename = checks.text("metadata.filename", meta.filename, max_len=MAX_FILENAME)
    if filename and ("/" in filename or "\\" in filename):
        checks.fail("metadata.filename", "a file name without folders")
    elif filename and not filename.lower().endswith(_EXTENSIONS):
        checks.fail("metadata.filename", "must end in .glb or .vrm")
    display_name = checks.text("metadata.display_name", meta.display_name, required=False, max_len=100)
    if not display_name and filename:
        display_name = filename.rsplit(".", 1)[0][:100] or filename[:100]
    if not 1 <= meta.size_bytes <= MAX_UPLOAD_BYTES:
        checks.fail("metadata.size_bytes", f"between 1 and {MAX_UPLOAD_BYTES} bytes (the 50 MiB upload limit)")
    if meta.content_sha256 and not _SHA256.match(meta.content_sha256):
        checks.fail("metadata.content_sha256", "64 lowercase hex digits")
    checks.done()
    return UploadMetadata(tenant_id, display_name, filename, meta.size_bytes, meta.content_sha256)


def optimization_options(request: avatar_pb2.OptimizeAvatarRequest) -> avatar_pb2.OptimizationOptions:
    """The requested options, or the defaults (meshopt, 2048 pixels, WebP) when unset."""
    if not request.HasField("options"):
        return avatar_pb2.OptimizationOptions(
            mesh_compression=avatar_pb2.MESH_COMPRESSION_MESHOPT, max_texture_size=2048, webp_textures=True
        )
    options = avatar_pb2.OptimizationOptions()
    options.CopyFrom(request.options)
    checks = Checks()
    if options.mesh_compression not in avatar_pb2.MeshCompression.values():
        checks.fail("options.mesh_compression", f"unknown MeshCompression value {options.mesh_compression}")
    if options.mesh_compression == avatar_pb2.MESH_COMPRESSION_UNSPECIFIED:
        options.mesh_compression = avatar_pb2.MESH_COMPRESSION_MESHOPT
    if options.max_texture_size not in TEXTURE_SIZES:
        checks.fail("options.max_texture_size", "one of 0 (keep), 256, 512, 1024, 2048, 4096")
    checks.done()
    return options
