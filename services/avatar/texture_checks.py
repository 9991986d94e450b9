"""Checks images (format and pixel size from their headers), textures and the texture references of materials."""

from __future__ import annotations

from services.avatar.buffer_checks import decode_data_uri
from services.avatar.check_context import CheckContext
from services.avatar.gltf_json import Item, child
from services.avatar.image_headers import read_image_header, sniff_mime_type
from services.avatar.report import echo

WEBP = "EXT_texture_webp"
BASISU = "KHR_texture_basisu"
#: Image formats that need an extension, and whether a viewer without it fails (error) or copes (warning).
_FORMAT_EXTENSIONS = {"image/webp": (WEBP, False), "image/ktx2": (BASISU, True)}
_MATERIAL_TEXTURES = ("normalTexture", "occlusionTexture", "emissiveTexture")
_PBR_TEXTURES = ("baseColorTexture", "metallicRoughnessTexture")


def check_images(ctx: CheckContext) -> tuple[int, int]:
    """Check every image; returns the largest width and height found."""
    max_width = max_height = 0
    for image in ctx.reader.top("images"):
        data = _image_bytes(ctx, image)
        if data is None:
            continue
        header = read_image_header(data)
        if header is None:
            if sniff_mime_type(data) is None:
                ctx.issues.error("IMAGE_UNSUPPORTED_FORMAT", "The image is not PNG, JPEG, WebP or KTX2.", image.pointer)
            else:
                ctx.issues.error("IMAGE_UNREADABLE", "The image header is cut short or corrupt.", image.pointer)
            continue
        declared = image.obj.get("mimeType")
        if isinstance(declared, str) and declared != header.mime_type:
            ctx.issues.warning(
                "IMAGE_MIME_TYPE_MISMATCH",
                f"mimeType is {echo(declared)} but the data is {header.mime_type}.",
                child(image.pointer, "mimeType"),
            )
        _check_format_extension(ctx, image, header.mime_type)
        _check_size(ctx, image, header.width, header.height)
        max_width, max_height = max(max_width, header.width), max(max_height, header.height)
    return max_width, max_height


def _image_bytes(ctx: CheckContext, image: Item) -> bytes | memoryview | None:
    """The image's bytes from its buffer view or data URI; external files are reported."""
    reader, issues = ctx.reader, ctx.issues
    uri = reader.string(image.obj, "uri", image.pointer)
    view_index = reader.index(image.obj, "bufferView", image.pointer, "bufferViews")
    if uri is not None:
        if not uri.startswith("data:"):
            issues.error(
                "EXTERNAL_RESOURCE",
                f"The image refers to the external file {echo(uri)}; avatars must be self-contained .glb files.",
                child(image.pointer, "uri"),
            )
            return None
        decoded = decode_data_uri(uri)
        if decoded is None:
            issues.error("INVALID_DATA_URI", "The image's data URI is not valid base64.", child(image.pointer, "uri"))
        return decoded
    if view_index is None:
        if "bufferView" not in image.obj:
            issues.error("IMAGE_NO_DATA", "The image has neither a uri nor a bufferView.", image.pointer)
        return None
    reader.string(image.obj, "mimeType", image.pointer, required=True)
    view = ctx.views.get(view_index)
    return view.data if view is not None else None


def _check_format_extension(ctx: CheckContext, image: Item, mime_type: str) -> None:
    """WebP and KTX2 images need their extension declared."""
    needed = _FORMAT_EXTENSIONS.get(mime_type)
    if needed is None or needed[0] in ctx.extensions_used:
        return
    message = f"A {mime_type} image needs {needed[0]} in extensionsUsed."
    if needed[1]:
        ctx.issues.error("IMAGE_FORMAT_NEEDS_EXTENSION", message, image.pointer)
    else:
        ctx.issues.warning("IMAGE_FORMAT_NEEDS_EXTENSION", message, image.pointer)


def _check_size(ctx: CheckContext, image: Item, width: int, height: int) -> None:
    """Huge images exhaust GPU memory (and a decompression bomb the browser); large ones are slow."""
    side = max(width, height)
    if width == 0 or height == 0:
        ctx.issues.error("IMAGE_UNREADABLE", f"The image header says {width}x{height} pixels.", image.pointer)
    elif side > ctx.limits.hard_max_texture_size:
        ctx.issues.error(
            "TEXTURE_EXCEEDS_GPU_LIMIT",
            f"The image is {width}x{height}; no GPU takes sides over {ctx.limits.hard_max_texture_size}.",
            image.pointer,
        )
    elif side > ctx.limits.max_texture_size:
        ctx.issues.warning(
            "TEXTURE_TOO_LARGE",
            f"The image is {width}x{height}; sides over {ctx.limits.max_texture_size} waste memory on phones.",
            image.pointer,
        )


def check_textures(ctx: CheckContext) -> None:
    """Textures name existing images and samplers; materials name existing textures."""
    reader = ctx.reader
    for texture in reader.top("textures"):
        reader.index(texture.obj, "source", texture.pointer, "images")
        reader.index(texture.obj, "sampler", texture.pointer, "samplers")
        extensions = reader.obj(texture.obj, "extensions", texture.pointer) or {}
        for name in (WEBP, BASISU):
            ext = reader.obj(extensions, name, child(texture.pointer, "extensions"))
            if ext is not None:
                reader.index(ext, "source", child(child(texture.pointer, "extensions"), name), "images")
    for material in reader.top("materials"):
        slots = [(material.obj, material.pointer, key) for key in _MATERIAL_TEXTURES]
        pbr = reader.obj(material.obj, "pbrMetallicRoughness", material.pointer)
        if pbr is not None:
            pbr_pointer = child(material.pointer, "pbrMetallicRoughness")
            slots += [(pbr, pbr_pointer, key) for key in _PBR_TEXTURES]
        for parent, pointer, key in slots:
            info = reader.obj(parent, key, pointer)
            if info is not None:
                reader.index(info, "index", child(pointer, key), "textures", required=True)
