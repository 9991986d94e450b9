"""Buffers, buffer views and accessors: every declared range must lie inside bytes that exist."""

from __future__ import annotations

import base64
import copy

import pytest

from services.avatar.inspection import inspect_glb
from services.avatar.report import ValidationLimits, ValidationReport
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_samples import DELETE, ROBOT, edited_glb, pack_glb, sample_document


def errors(report: ValidationReport) -> list[tuple[str, str]]:
    """(code, pointer) of every error kept."""
    return [(issue.code, issue.pointer) for issue in report.errors]


def warnings(report: ValidationReport) -> list[tuple[str, str]]:
    """(code, pointer) of every warning kept."""
    return [(issue.code, issue.pointer) for issue in report.warnings]


def test_robot_validates_clean_with_its_stats() -> None:
    if not ROBOT.exists():
        pytest.skip(f"{ROBOT} is absent (a plain clone has no ../shared)")
    report = validate_glb(ROBOT.read_bytes())
    assert report.valid
    assert report.error_count == 0
    assert report.warning_count == 0
    stats = report.stats
    assert (stats.animations, stats.morph_targets, stats.skins) == (14, 3, 4)
    assert (stats.meshes, stats.materials, stats.textures, stats.joints) == (19, 3, 0, 172)
    assert stats.file_size == 584_468
    assert stats.triangles > 1000
    assert stats.vertices > 1000
    assert stats.extensions_used == stats.extensions_required == ()
    assert report.elapsed_seconds < 5


def test_sample_stats() -> None:
    report = validate_glb(edited_glb({}))
    assert report.valid
    stats = report.stats
    assert (stats.triangles, stats.vertices, stats.meshes, stats.skins, stats.joints) == (1, 3, 1, 1, 2)
    assert (stats.textures, stats.max_texture_width, stats.max_texture_height, stats.max_texture_size) == (
        1,
        64,
        32,
        64,
    )
    assert (stats.animations, stats.morph_targets) == (1, 2)


@pytest.mark.parametrize("count", [4, 2**31, 2**53 - 1])
def test_accessor_count_beyond_its_view(count: int) -> None:
    report = validate_glb(edited_glb({"accessors.0.count": count}))
    assert ("ACCESSOR_OUT_OF_BOUNDS", "/accessors/0") in errors(report)


#: The longest integer json reads (4300 digits); an end offset computed from it once had too many digits to print.
LONGEST_INTEGER = 10**4299


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("accessors.0.count", 2**53, id="count-2^53"),
        pytest.param("accessors.0.count", 2**63, id="count-2^63"),
        pytest.param("accessors.0.count", LONGEST_INTEGER, id="count-4300-digits"),
        pytest.param("accessors.0.byteOffset", LONGEST_INTEGER, id="offset-4300-digits"),
        pytest.param("bufferViews.0.byteLength", LONGEST_INTEGER, id="view-length-4300-digits"),
    ],
)
def test_integers_past_the_safe_range_are_out_of_range(path: str, value: int) -> None:
    report = validate_glb(edited_glb({path: value}))
    pointer = "/" + path.replace(".", "/")
    assert ("VALUE_OUT_OF_RANGE", pointer) in errors(report)
    assert "VALIDATOR_INTERNAL_ERROR" not in [code for code, _ in errors(report)]
    assert all(len(issue.message) < 200 for issue in report.issues)


@pytest.mark.parametrize(
    ("accessor_count", "pointer"),
    [
        pytest.param(3, "/accessors/4/sparse/count", id="sparse"),
        pytest.param(LONGEST_INTEGER, "/accessors/4/count", id="sparse-and-accessor"),
    ],
)
def test_sparse_count_past_the_safe_range(accessor_count: int, pointer: str) -> None:
    sparse = {
        "count": LONGEST_INTEGER,
        "indices": {"bufferView": 6, "componentType": 5123},
        "values": {"bufferView": 8},
    }
    report = validate_glb(edited_glb({"accessors.4.count": accessor_count, "accessors.4.sparse": sparse}))
    assert errors(report) == [("VALUE_OUT_OF_RANGE", pointer)]


def test_accessor_max_past_the_float_range() -> None:
    # float() of such an integer raises OverflowError; json reads the same number written 1e400 as inf.
    data = edited_glb({"accessors.8.max": [10**400], "accessors.0.max": [-(10**400), 1, 0]})
    assert validate_glb(data).valid
    assert inspect_glb(data).clip_names == ("Armature|Wave",)


def test_accessor_offset_beyond_its_view() -> None:
    report = validate_glb(edited_glb({"accessors.6.byteOffset": 4}))
    assert errors(report) == [("ACCESSOR_OUT_OF_BOUNDS", "/accessors/6")]


def test_huge_accessor_without_view_is_too_large_to_allocate() -> None:
    report = validate_glb(edited_glb({"accessors.10.bufferView": DELETE, "accessors.10.count": 2**31}))
    assert ("ACCESSOR_TOO_LARGE", "/accessors/10") in errors(report)


def test_accessor_not_aligned_to_its_component_size() -> None:
    report = validate_glb(edited_glb({"accessors.0.byteOffset": 2}))
    assert ("ACCESSOR_MISALIGNED", "/accessors/0") in errors(report)


def test_accessor_invalid_component_type_and_type() -> None:
    report = validate_glb(edited_glb({"accessors.0.componentType": 5124, "accessors.1.type": "VEC5"}))
    assert ("ACCESSOR_INVALID_COMPONENT_TYPE", "/accessors/0/componentType") in errors(report)
    assert ("ACCESSOR_INVALID_TYPE", "/accessors/1/type") in errors(report)


@pytest.mark.parametrize(
    ("value", "code"), [("3", "TYPE_MISMATCH"), (True, "TYPE_MISMATCH"), (0, "VALUE_OUT_OF_RANGE")]
)
def test_accessor_count_of_the_wrong_kind(value: object, code: str) -> None:
    assert (code, "/accessors/0/count") in errors(validate_glb(edited_glb({"accessors.0.count": value})))


def test_buffer_view_beyond_its_buffer() -> None:
    report = validate_glb(edited_glb({"bufferViews.0.byteLength": 10**9}))
    assert ("BUFFER_VIEW_OUT_OF_BOUNDS", "/bufferViews/0") in errors(report)


def test_buffer_view_invalid_stride() -> None:
    report = validate_glb(edited_glb({"bufferViews.0.byteStride": 3}))
    assert ("BUFFER_VIEW_INVALID_STRIDE", "/bufferViews/0/byteStride") in errors(report)


def test_strided_accessor_checked_with_its_stride() -> None:
    # 3 VEC3 floats at stride 16 need 16 * 2 + 12 = 44 bytes; the view has 36.
    report = validate_glb(edited_glb({"bufferViews.0.byteStride": 16}))
    assert ("ACCESSOR_OUT_OF_BOUNDS", "/accessors/0") in errors(report)


def test_buffer_longer_than_the_bin_chunk() -> None:
    document, binary = sample_document()
    document["buffers"][0]["byteLength"] = len(binary) + 1000
    assert ("BUFFER_DATA_TOO_SHORT", "/buffers/0") in errors(validate_glb(pack_glb(document, binary)))


def test_view_index_out_of_range() -> None:
    report = validate_glb(edited_glb({"accessors.3.bufferView": 99}))
    assert ("INDEX_OUT_OF_RANGE", "/accessors/3/bufferView") in errors(report)


def test_external_buffer_is_rejected() -> None:
    report = validate_glb(edited_glb({"buffers.0.uri": "model.bin"}))
    assert ("EXTERNAL_RESOURCE", "/buffers/0/uri") in errors(report)


def test_buffer_as_data_uri_without_bin_chunk() -> None:
    document, binary = sample_document()
    document["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(binary).decode()
    report = validate_glb(pack_glb(document, None))
    assert report.valid, report.issues


def test_malformed_data_uri() -> None:
    document, _binary = sample_document()
    document["buffers"][0]["uri"] = "data:application/octet-stream;base64,!!not base64!!"
    assert ("INVALID_DATA_URI", "/buffers/0/uri") in errors(validate_glb(pack_glb(document, None)))


def test_sparse_values_beyond_their_view() -> None:
    sparse = {"count": 2, "indices": {"bufferView": 6, "componentType": 5123}, "values": {"bufferView": 8}}
    report = validate_glb(edited_glb({"accessors.4.sparse": sparse}))
    assert ("ACCESSOR_SPARSE_OUT_OF_BOUNDS", "/accessors/4/sparse/values") in errors(report)


def test_meshopt_view_with_fallback_buffer_is_valid_but_bounded() -> None:
    document, binary = sample_document()
    document = copy.deepcopy(document)
    meshopt = {"buffer": 0, "byteOffset": 0, "byteLength": 36, "byteStride": 12, "count": 3, "mode": "ATTRIBUTES"}
    document["buffers"].append({"byteLength": 36, "extensions": {"EXT_meshopt_compression": {"fallback": True}}})
    document["bufferViews"].append({"buffer": 1, "byteLength": 36, "extensions": {"EXT_meshopt_compression": meshopt}})
    document["extensionsUsed"] = ["EXT_meshopt_compression"]
    assert validate_glb(pack_glb(document, binary)).valid
    meshopt["count"] = 2**40
    report = validate_glb(pack_glb(document, binary))
    assert ("BUFFER_VIEW_TOO_LARGE", "/bufferViews/12/extensions/EXT_meshopt_compression") in errors(report)


def test_too_many_issues_are_truncated_and_validation_stops() -> None:
    document, binary = sample_document()
    document["accessors"] += [{"bufferView": 0, "componentType": 1, "type": "X", "count": -1}] * 5000
    report = validate_glb(pack_glb(document, binary))
    assert report.truncated
    assert len(report.errors) + len(report.warnings) == 200
    # Every bad accessor has several issues, so only a run that stopped counts exactly the limit.
    assert report.error_count + report.warning_count == ValidationLimits().stop_after_issues


def test_array_longer_than_the_limit() -> None:
    report = validate_glb(edited_glb({"nodes.0.children": [1, 2] + [4] * 50}), ValidationLimits(max_array_items=10))
    assert ("TOO_MANY_ITEMS", "/nodes/0/children") in errors(report)
