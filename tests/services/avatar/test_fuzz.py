"""Fuzzing: mutated versions of a valid GLB never make validation, inspection or mapping raise or run long."""

from __future__ import annotations

import os
import re
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from services.avatar.inspection import inspect_glb
from services.avatar.mapping import auto_map
from services.avatar.report import DEFAULT_LIMITS, ValidationReport
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_mutations import (
    HOSTILE_VALUES,
    DeleteJson,
    EditJson,
    FlipBytes,
    InsertBytes,
    Mutation,
    SetLength,
    Truncate,
    apply_mutations,
    json_paths,
)
from tests.services.avatar.glb_samples import sample_document

# Hypothesis caches constants and Unicode tables under ./.hypothesis; keep the work tree clean.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "avatarchat-hypothesis")

#: Seconds one small input may take; the sample validates in about a millisecond, so this only catches hangs.
MAX_SECONDS = 2.0
_CODE = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
_POINTER = re.compile(r"|glb\.header|glb\.chunk\[\d+\]|/.*", re.DOTALL)

positions = st.integers(min_value=0, max_value=1 << 20)
lengths = st.one_of(st.sampled_from([0, 1, 3, 4, 8, 12, 20, 2**31 - 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
json_values = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 300), max_size=5),
)
byte_mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.builds(FlipBytes, st.lists(st.tuples(positions, st.integers(1, 255)), min_size=1, max_size=8).map(tuple)),
    st.builds(Truncate, positions),
    st.builds(InsertBytes, positions, st.binary(min_size=1, max_size=16)),
    st.builds(SetLength, st.sampled_from(["total", "json", "bin"]), lengths),
)
json_mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.builds(EditJson, positions, json_values), st.builds(DeleteJson, positions)
)
#: Half the mutations edit the JSON (reaching the semantic checks), half damage the bytes (the container).
mutations = st.one_of(json_mutations, byte_mutations)


def assert_well_formed(report: ValidationReport) -> None:
    """The report keeps its promises whatever the input."""
    assert report.valid == (report.error_count == 0)
    assert len(report.errors) <= report.error_count
    assert len(report.warnings) <= report.warning_count
    assert len(report.issues) <= DEFAULT_LIMITS.max_issues
    assert report.truncated == (len(report.issues) < report.error_count + report.warning_count)
    for issue in report.issues:
        assert issue.code != "VALIDATOR_INTERNAL_ERROR", issue.message
        assert _CODE.fullmatch(issue.code), issue.code
        assert _POINTER.fullmatch(issue.pointer), issue.pointer
        assert issue.message
        assert len(issue.message) < 1000
    assert min(report.stats.triangles, report.stats.vertices, report.stats.joints) >= 0


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=4))
def test_mutated_glb_never_raises_or_hangs(changes: list[Mutation]) -> None:
    document, binary = sample_document()
    data = apply_mutations(document, binary, changes)
    started = time.perf_counter()
    report = validate_glb(data)
    inspection = inspect_glb(data)
    auto_map(inspection.clip_names, inspection.morph_targets)
    elapsed = time.perf_counter() - started
    assert_well_formed(report)
    assert report.elapsed_seconds < MAX_SECONDS
    assert elapsed < MAX_SECONDS


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=256))
def test_random_bytes_are_rejected(data: bytes) -> None:
    report = validate_glb(data)
    assert_well_formed(report)
    assert not report.valid


#: The nested list among the hostile values (60 levels of [[...[0]...]]).
NESTED = next(value for value in HOSTILE_VALUES if isinstance(value, list) and value and isinstance(value[0], list))
#: Seed 41's failing example: the second edit lands inside the list the first one inserted.
SEED_41: list[Mutation] = [
    InsertBytes(7387, b"\x82\x08@\x7f"),
    InsertBytes(2308, b"\x06\x85\x91\xe3,s-\xc86?j"),
    EditJson(1986, NESTED),
    EditJson(1986, NESTED),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            SEED_41,
            [
                ("GLB_LENGTH_MISMATCH", "glb.header"),
                ("GLB_CHUNK_TRUNCATED", "glb.chunk[1]"),
                ("JSON_INVALID_UTF8", "glb.chunk[0]"),
            ],
        ),
        (SEED_41[2:], [("TYPE_MISMATCH", "/bufferViews/4/byteLength")]),
    ],
)
def test_edit_inside_an_inserted_value_stays_small(changes: list[Mutation], expected: list[tuple[str, str]]) -> None:
    """The edits once put the shared constant inside itself; the next example walked the cycle until OOM (23 GB)."""
    hostile_before = repr(HOSTILE_VALUES)
    document, binary = sample_document()
    tracemalloc.start()
    try:
        for _ in range(2):  # the run after the first is the one that never ended
            data = apply_mutations(document, binary, changes)
            report = validate_glb(data)
            inspect_glb(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert repr(HOSTILE_VALUES) == hostile_before
    assert peak < 50 * 1024 * 1024
    assert [(issue.code, issue.pointer) for issue in report.issues] == expected


def test_json_paths_refuses_a_shared_container() -> None:
    """A cycle or a container in two places fails at once rather than walking without end."""
    loop: list[Any] = [0]
    loop[0] = loop
    with pytest.raises(ValueError, match="must be a tree"):
        json_paths({"a": loop})
    shared: dict[str, Any] = {}
    with pytest.raises(ValueError, match="must be a tree"):
        json_paths({"a": shared, "b": shared})
