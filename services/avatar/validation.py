"""Validates an uploaded binary glTF (GLB) avatar against the glTF 2.0 spec and the platform's limits.

Uploads are untrusted: a file may be truncated, lie about its lengths, declare counts of 2^31 or be a
ZIP renamed .glb. `validate_glb` never raises, reads no declared length or count before checking it
against the bytes actually present, bounds the JSON it parses, the arrays it walks, the index data it
reads and the issues it keeps, so its time and memory stay proportional to a capped input.

The GLB container is parsed by `glb_container` rather than pygltflib (which trusts declared lengths);
the JSON is read through `gltf_json.DocumentReader` rather than `pygltflib.GLTF2.from_dict`, which
raises TypeError/AttributeError/ValueError on mistyped members, warns on missing ones and takes
about a second for the 160 KB JSON of robot-expressive.glb (a 16 MiB hostile JSON would take
minutes). pygltflib still supplies the spec's constants (component types, accessor types).
"""

from __future__ import annotations

import logging
import time

from services.avatar.animation_checks import check_animations
from services.avatar.check_context import CheckContext
from services.avatar.document import open_document
from services.avatar.extensions import check_asset
from services.avatar.inspection import morph_target_names
from services.avatar.mesh_checks import check_meshes
from services.avatar.node_checks import check_nodes, drawn_triangles
from services.avatar.report import (
    DEFAULT_LIMITS,
    IssueCollector,
    IssueLimitReached,
    ModelStats,
    Severity,
    ValidationIssue,
    ValidationLimits,
    ValidationReport,
)
from services.avatar.skin_checks import check_skins
from services.avatar.texture_checks import check_images, check_textures

__all__ = [
    "DEFAULT_LIMITS",
    "ModelStats",
    "Severity",
    "ValidationIssue",
    "ValidationLimits",
    "ValidationReport",
    "validate_glb",
]

logger = logging.getLogger(__name__)


def validate_glb(data: bytes, limits: ValidationLimits = DEFAULT_LIMITS) -> ValidationReport:
    """Check a GLB file and describe what it contains; never raises, whatever the bytes."""
    started = time.perf_counter()
    issues = IssueCollector(limits.max_issues, stop_after=limits.stop_after_issues)
    stats = ModelStats(file_size=len(data))
    try:
        ctx = open_document(data, limits, issues)
        if ctx is not None:
            stats = _check_model(ctx, stats)
    except IssueLimitReached:
        pass  # the report is already invalid and truncated; checking the rest would only cost time
    except Exception:
        # A bug must cost one upload a clear error, not the service; tests assert this code never appears.
        logger.exception("avatar validation failed unexpectedly")
        issues.error("VALIDATOR_INTERNAL_ERROR", "The validator failed on this file; please report it.")
    return issues.report(stats, time.perf_counter() - started)


def _check_model(ctx: CheckContext, stats: ModelStats) -> ModelStats:
    """Run the checks on an opened document and return the statistics they gathered."""
    reader, issues, limits = ctx.reader, ctx.issues, ctx.limits
    check_asset(reader)
    meshes = check_meshes(ctx)
    node_meshes = check_nodes(ctx)
    joints = check_skins(ctx)
    check_animations(ctx, meshes, node_meshes)
    max_width, max_height = check_images(ctx)
    check_textures(ctx)
    if not reader.count("meshes"):
        issues.error("NO_MESHES", "The file has no mesh, so the avatar would be invisible.", "/meshes")
    if not reader.count("skins"):
        issues.warning("NO_SKIN", "The model has no skin; only node animations and morph targets can move it.")
    triangles = drawn_triangles(meshes, node_meshes)
    if triangles > limits.max_triangles:
        issues.error(
            "TOO_MANY_TRIANGLES", f"{triangles} triangles; the limit is {limits.max_triangles}. Decimate the model."
        )
    elif triangles > limits.warn_triangles:
        issues.warning("HIGH_TRIANGLE_COUNT", f"{triangles} triangles; over {limits.warn_triangles} is slow on phones.")
    used, required = ctx.declared_extensions
    return ModelStats(
        file_size=stats.file_size,
        triangles=triangles,
        vertices=sum(summary.vertices for summary in meshes.values()),
        meshes=reader.count("meshes"),
        materials=reader.count("materials"),
        textures=reader.count("textures"),
        max_texture_width=max_width,
        max_texture_height=max_height,
        skins=reader.count("skins"),
        joints=joints,
        animations=reader.count("animations"),
        morph_targets=len(morph_target_names(reader)),
        extensions_used=used,
        extensions_required=required,
    )
