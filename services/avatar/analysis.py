"""Runs the avatar library on a model's bytes: validation report, clips, morph targets and the automatic map."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.avatar import convert
from services.avatar.inspection import inspect_glb
from services.avatar.mapping import auto_map
from services.avatar.validation import validate_glb


@dataclass(frozen=True)
class Analysis:
    """Everything an avatar row stores about its model, as the store's JSON documents."""

    valid: bool
    report: dict[str, Any]
    clips: list[dict[str, Any]]
    morph_targets: list[dict[str, Any]]
    auto_map: dict[str, Any]

    @property
    def state(self) -> str:
        """`ready` or `invalid`."""
        return "ready" if self.valid else "invalid"


def analyse_now(data: bytes) -> Analysis:
    """Validates and inspects `data`; never raises (the library's functions never do)."""
    report = validate_glb(data)
    # An invalid file is inspected as far as it can be read, so its report still lists what it has.
    inspection = inspect_glb(data)
    mapped = auto_map(inspection.clip_names, inspection.morph_targets)
    return Analysis(
        valid=report.valid,
        report=convert.report_json(report, datetime.now(UTC)),
        clips=convert.clips_json(inspection),
        morph_targets=convert.morphs_json(inspection),
        auto_map=convert.map_json(mapped),
    )


async def analyse(data: bytes) -> Analysis:
    """`analyse_now` in a worker thread: validation is CPU-bound and bounded, and must not stall other calls."""
    return await asyncio.to_thread(analyse_now, data)
