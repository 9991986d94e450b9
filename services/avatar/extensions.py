"""The glTF extensions the platform knows, and the checks of `asset` and of the extensions a file declares."""

from __future__ import annotations

import re

from services.avatar.gltf_json import DocumentReader, child
from services.avatar.report import echo

#: Extensions the widget's glTF loader handles (or that are safe to ignore), with what each one does.
KNOWN_EXTENSIONS: dict[str, str] = {
    "KHR_mesh_quantization": "vertex attributes stored as small integers",
    "EXT_meshopt_compression": "meshoptimizer-compressed buffer views",
    "KHR_draco_mesh_compression": "Draco-compressed mesh geometry",
    "EXT_texture_webp": "WebP textures",
    "EXT_texture_avif": "AVIF textures",
    "KHR_texture_basisu": "KTX2 / Basis Universal GPU textures",
    "KHR_texture_transform": "texture coordinate offset, rotation and scale",
    "KHR_materials_unlit": "unlit (flat-shaded) materials",
    "KHR_materials_emissive_strength": "emission brighter than 1.0",
    "KHR_materials_clearcoat": "clear-coat layer",
    "KHR_materials_sheen": "cloth sheen",
    "KHR_materials_transmission": "thin transparent materials",
    "KHR_materials_volume": "thick transparent materials",
    "KHR_materials_ior": "index of refraction",
    "KHR_materials_specular": "specular strength and colour",
    "KHR_materials_iridescence": "thin-film iridescence",
    "KHR_materials_anisotropy": "anisotropic highlights",
    "KHR_materials_dispersion": "dispersion in transparent materials",
    "EXT_materials_bump": "bump maps",
    "KHR_lights_punctual": "point, spot and directional lights",
    "EXT_mesh_gpu_instancing": "GPU instancing of nodes",
    "VRM": "VRM 0.x avatar metadata",
    "VRMC_vrm": "VRM 1.0 avatar metadata",
    "VRMC_springBone": "VRM 1.0 spring bones",
    "VRMC_materials_mtoon": "VRM 1.0 toon materials",
    "VRMC_node_constraint": "VRM 1.0 node constraints",
}

_VERSION = re.compile(r"(\d{1,9})\.(\d{1,9})")


def check_asset(reader: DocumentReader) -> None:
    """`asset.version` must be 2.x and `asset.minVersion`, if any, at most 2.0."""
    asset = reader.obj(reader.root, "asset", "", required=True)
    if asset is None:
        return
    version = reader.string(asset, "version", "/asset", required=True)
    if version is not None:
        match = _VERSION.fullmatch(version)
        if match is None or match.group(1) != "2":
            reader.issues.error(
                "ASSET_VERSION_UNSUPPORTED", f"glTF version {echo(version)} is not 2.x.", "/asset/version"
            )
    min_version = reader.string(asset, "minVersion", "/asset")
    if min_version is not None:
        match = _VERSION.fullmatch(min_version)
        if match is None or (int(match.group(1)), int(match.group(2))) > (2, 0):
            reader.issues.error(
                "ASSET_VERSION_UNSUPPORTED",
                f"The file needs glTF {echo(min_version)}; we read 2.0.",
                "/asset/minVersion",
            )


def check_extensions(reader: DocumentReader) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Unknown required extensions are errors, unknown used ones warnings; returns (used, required)."""
    used = _names(reader, "extensionsUsed")
    required = _names(reader, "extensionsRequired")
    used_names = {name for _, name in used}
    for position, name in used:
        if name not in KNOWN_EXTENSIONS:
            reader.issues.warning(
                "UNKNOWN_EXTENSION_USED",
                f"{echo(name)} is not supported; the model may look different in the widget.",
                child("/extensionsUsed", position),
            )
    for position, name in required:
        pointer = child("/extensionsRequired", position)
        if name not in KNOWN_EXTENSIONS:
            reader.issues.error(
                "UNSUPPORTED_REQUIRED_EXTENSION", f"{echo(name)} is required but not supported.", pointer
            )
        if name not in used_names:
            reader.issues.error(
                "EXTENSION_REQUIRED_NOT_USED", f"{echo(name)} is required but missing from extensionsUsed.", pointer
            )
    return tuple(name for _, name in used), tuple(name for _, name in required)


def _names(reader: DocumentReader, key: str) -> list[tuple[int, str]]:
    """The distinct strings of an extension list with their positions; other values and duplicates are reported."""
    names: list[tuple[int, str]] = []
    seen: set[str] = set()
    for position, value in enumerate(reader.array(reader.root, key, "")):
        if not isinstance(value, str):
            reader.type_mismatch(f"/{key}/{position}", value, "a string")
        elif value in seen:
            reader.issues.warning("DUPLICATE_ELEMENT", f"{echo(value)} is listed twice.", f"/{key}/{position}")
        else:
            seen.add(value)
            names.append((position, value))
    return names
