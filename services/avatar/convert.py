"""Conversions between the avatar library's results, the store's JSON documents and the wire messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from avatarchat.avatar.v1 import avatar_pb2
from services.avatar.behaviours import BEHAVIOURS_BY_NAME
from services.avatar.inspection import AvatarInspection
from services.avatar.mapping import BehaviourMap, classify_morph
from services.avatar.report import ValidationReport
from services.avatar.store import AvatarRow
from services.runtime.names import tenant_name
from services.runtime.object_store import model_key

STATES = {
    "uploaded": avatar_pb2.AVATAR_STATE_UPLOADED,
    "validating": avatar_pb2.AVATAR_STATE_VALIDATING,
    "ready": avatar_pb2.AVATAR_STATE_READY,
    "invalid": avatar_pb2.AVATAR_STATE_INVALID,
    "optimizing": avatar_pb2.AVATAR_STATE_OPTIMIZING,
}
PREVIEW_STATES = {
    "pending": avatar_pb2.PREVIEW_STATE_PENDING,
    "rendering": avatar_pb2.PREVIEW_STATE_RENDERING,
    "ready": avatar_pb2.PREVIEW_STATE_READY,
    "failed": avatar_pb2.PREVIEW_STATE_FAILED,
}
OPTIMIZATION_STATES = {
    "running": avatar_pb2.OPTIMIZATION_STATE_RUNNING,
    "succeeded": avatar_pb2.OPTIMIZATION_STATE_SUCCEEDED,
    "failed": avatar_pb2.OPTIMIZATION_STATE_FAILED,
}
_MORPH_KINDS = {
    "expression": avatar_pb2.MORPH_TARGET_KIND_EXPRESSION,
    "viseme": avatar_pb2.MORPH_TARGET_KIND_VISEME,
    "other": avatar_pb2.MORPH_TARGET_KIND_OTHER,
}
_SEVERITIES = {"error": avatar_pb2.ISSUE_SEVERITY_ERROR, "warning": avatar_pb2.ISSUE_SEVERITY_WARNING}
DEFAULT_NAME = "avatars/default"


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp from a datetime."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def model_url(sha256: str) -> str:
    """Where the edge serves a model: `/models/{sha256}.glb` (the object key, served as is)."""
    return f"/{model_key(sha256)}"


def preview_url(sha256: str) -> str:
    """Where the edge serves the preview of a model: `/models/{sha256}.preview.png`, as avatar.proto says."""
    return f"/models/{sha256}.preview.png" if sha256 else ""


def avatar_name(tenant_id: Any, avatar_id: Any) -> str:
    """`tenants/{tenant}/avatars/{avatar}`."""
    return f"{tenant_name(tenant_id)}/avatars/{avatar_id}"


def report_json(report: ValidationReport, validate_time: datetime) -> dict[str, Any]:
    """How a validation report is stored: the wire fields, issues errors first."""
    stats = dataclasses.asdict(report.stats)
    stats["max_texture_size"] = report.stats.max_texture_size
    return {
        "valid": report.valid,
        "issues": [
            {"severity": i.severity.value, "code": i.code, "message": i.message, "pointer": i.pointer}
            for i in report.issues
        ],
        "truncated": report.truncated,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "stats": stats,
        "validate_time": validate_time.isoformat(),
    }


def report_message(doc: Mapping[str, Any]) -> avatar_pb2.ValidationReport:
    """The wire form of a stored report."""
    stats = doc.get("stats", {})
    message = avatar_pb2.ValidationReport(
        valid=bool(doc.get("valid")),
        issues=[
            avatar_pb2.ValidationIssue(
                severity=_SEVERITIES.get(i["severity"], avatar_pb2.ISSUE_SEVERITY_ERROR),
                code=i["code"],
                message=i["message"],
                pointer=i["pointer"],
            )
            for i in doc.get("issues", [])
        ],
        truncated=bool(doc.get("truncated")),
        error_count=int(doc.get("error_count", 0)),
        warning_count=int(doc.get("warning_count", 0)),
        stats=avatar_pb2.ModelStats(
            triangles=stats.get("triangles", 0),
            vertices=stats.get("vertices", 0),
            meshes=stats.get("meshes", 0),
            materials=stats.get("materials", 0),
            textures=stats.get("textures", 0),
            max_texture_size=stats.get("max_texture_size", 0),
            skins=stats.get("skins", 0),
            joints=stats.get("joints", 0),
            animations=stats.get("animations", 0),
            morph_targets=stats.get("morph_targets", 0),
            extensions_used=stats.get("extensions_used", []),
            extensions_required=stats.get("extensions_required", []),
        ),
    )
    if doc.get("validate_time"):
        message.validate_time.CopyFrom(timestamp(datetime.fromisoformat(doc["validate_time"])))
    return message


def clips_json(inspection: AvatarInspection) -> list[dict[str, Any]]:
    """The clips as stored."""
    return [{"name": c.name, "seconds": c.duration_seconds, "channels": c.channels} for c in inspection.clips]


def morphs_json(inspection: AvatarInspection) -> list[dict[str, Any]]:
    """The morph targets as stored, with the kind guessed from each name."""
    return [{"name": name, "kind": classify_morph(name)} for name in inspection.morph_targets]


def clip_messages(clips: Sequence[Mapping[str, Any]]) -> list[avatar_pb2.AnimationClip]:
    """The wire form of stored clips."""
    out = []
    for clip in clips:
        duration = duration_pb2.Duration()
        duration.FromNanoseconds(round(float(clip["seconds"]) * 1e9))
        out.append(avatar_pb2.AnimationClip(name=clip["name"], duration=duration, channels=clip["channels"]))
    return out


def morph_messages(morphs: Sequence[Mapping[str, Any]]) -> list[avatar_pb2.MorphTarget]:
    """The wire form of stored morph targets."""
    return [avatar_pb2.MorphTarget(name=m["name"], kind=_MORPH_KINDS[m["kind"]]) for m in morphs]


def map_json(mapped: BehaviourMap) -> dict[str, Any]:
    """An automatic map as stored: entries in library order, every one AUTO."""
    entries = []
    for behaviour, (kind, target) in mapped.mapped.items():
        entries.append({"behaviour": behaviour, "clip" if kind == "clip" else "morph_target": target, "source": "auto"})
    return {"entries": entries, "viseme_morphs": dict(mapped.visemes)}


def map_message(doc: Mapping[str, Any], name: str, clips: Sequence[Mapping[str, Any]]) -> avatar_pb2.AnimationMap:
    """The wire form of a stored map; unmapped_clips is derived from the model's clips."""
    message = avatar_pb2.AnimationMap(name=name, viseme_morphs=doc.get("viseme_morphs", {}))
    used: set[str] = set()
    for entry in doc.get("entries", []):
        behaviour = BEHAVIOURS_BY_NAME[entry["behaviour"]]
        source = avatar_pb2.MAPPING_SOURCE_MANUAL if entry["source"] == "manual" else avatar_pb2.MAPPING_SOURCE_AUTO
        item = avatar_pb2.AnimationMapEntry(behaviour=behaviour.value, source=source)
        if "clip" in entry:
            item.clip = entry["clip"]
            used.add(entry["clip"])
        else:
            item.morph_target = entry["morph_target"]
        message.entries.append(item)
    message.unmapped_clips.extend(dict.fromkeys(c["name"] for c in clips if c["name"] not in used))
    return message


def optimization_message(doc: Mapping[str, Any]) -> avatar_pb2.Optimization:
    """The wire form of a stored optimization job."""
    options = doc.get("options", {})
    message = avatar_pb2.Optimization(
        state=OPTIMIZATION_STATES[doc["state"]],
        options=avatar_pb2.OptimizationOptions(
            mesh_compression=options.get("mesh_compression", 0),
            max_texture_size=options.get("max_texture_size", 0),
            webp_textures=options.get("webp_textures", False),
        ),
        error=doc.get("error", ""),
    )
    if doc.get("start_time"):
        message.start_time.CopyFrom(timestamp(datetime.fromisoformat(doc["start_time"])))
    if doc.get("finish_time"):
        message.finish_time.CopyFrom(timestamp(datetime.fromisoformat(doc["finish_time"])))
    return message


def preview_message(row: AvatarRow, name: str) -> avatar_pb2.Preview:
    """The wire form of an avatar's preview."""
    ready = row.preview_state == "ready"
    message = avatar_pb2.Preview(
        name=f"{name}/preview",
        state=PREVIEW_STATES[row.preview_state],
        url=preview_url(row.content_sha256) if ready else "",
        width=row.preview_width if ready else 0,
        height=row.preview_height if ready else 0,
        failure_reason=row.preview_failure if row.preview_state == "failed" else "",
    )
    if row.preview_render_time is not None:
        message.render_time.CopyFrom(timestamp(row.preview_render_time))
    return message


def avatar_message(row: AvatarRow, name: str | None = None) -> avatar_pb2.Avatar:
    """The wire form of an avatar (`name` overrides the tenant's resource name, for the default avatar)."""
    name = name or avatar_name(row.tenant_id, row.id)
    original = model_url(row.content_sha256)
    optimized = model_url(row.optimized_sha256) if row.optimized_sha256 else ""
    message = avatar_pb2.Avatar(
        name=name,
        display_name=row.display_name,
        filename=row.filename,
        state=STATES[row.state],
        content_sha256=row.content_sha256,
        original_model_url=original,
        original_size_bytes=row.original_size_bytes,
        optimized_model_url=optimized,
        optimized_sha256=row.optimized_sha256,
        optimized_size_bytes=row.optimized_size_bytes,
        preview=preview_message(row, name),
        animation_map=map_message(row.animation_map, f"{name}/animationMap", row.clips),
        clips=clip_messages(row.clips),
        morph_targets=morph_messages(row.morph_targets),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        model_url=optimized or original,
    )
    if row.report is not None:
        message.validation_report.CopyFrom(report_message(row.report))
    if row.optimization is not None:
        message.optimization.CopyFrom(optimization_message(row.optimization))
    return message
