"""Broken GLB containers and JSON chunks each give a specific error code at a specific location."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import pytest

from services.avatar.report import ValidationLimits, ValidationReport
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_samples import CHUNK_BIN, CHUNK_JSON, chunk, pack_glb, sample_document, sample_glb


def codes(report: ValidationReport) -> list[tuple[str, str]]:
    """(code, pointer) of every error kept, in order."""
    return [(issue.code, issue.pointer) for issue in report.errors]


def assert_rejected(report: ValidationReport, code: str, pointer: str) -> None:
    """The report is invalid and names this error at this location."""
    assert not report.valid
    assert (code, pointer) in codes(report), codes(report)


def test_sample_is_valid() -> None:
    report = validate_glb(sample_glb())
    assert report.valid, report.issues
    assert report.issues == ()


@pytest.mark.parametrize("length", [0, 3, 11])
def test_file_shorter_than_the_header_is_truncated(length: int) -> None:
    assert_rejected(validate_glb(sample_glb()[:length]), "GLB_TRUNCATED", "glb.header")


def test_truncated_file_reports_length_and_the_cut_chunk() -> None:
    data = sample_glb()
    report = validate_glb(data[: len(data) - 100])
    assert_rejected(report, "GLB_LENGTH_MISMATCH", "glb.header")
    assert_rejected(report, "GLB_CHUNK_TRUNCATED", "glb.chunk[1]")


def test_truncated_inside_the_json_chunk() -> None:
    report = validate_glb(sample_glb()[:200])
    assert_rejected(report, "GLB_CHUNK_TRUNCATED", "glb.chunk[0]")


def test_wrong_magic() -> None:
    data = sample_glb()
    report = validate_glb(b"GLTF" + data[4:])
    assert codes(report) == [("GLB_INVALID_MAGIC", "glb.header")]


def test_zip_renamed_glb_says_what_it_is() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.gltf", '{"asset": {"version": "2.0"}}')
    report = validate_glb(buffer.getvalue())
    assert codes(report) == [("GLB_INVALID_MAGIC", "glb.header")]
    assert "ZIP" in report.errors[0].message


def test_gltf_json_uploaded_as_glb_says_what_it_is() -> None:
    report = validate_glb(b'{"asset": {"version": "2.0"}}')
    assert_rejected(report, "GLB_INVALID_MAGIC", "glb.header")
    assert ".gltf" in report.errors[0].message


def test_random_bytes() -> None:
    report = validate_glb(os.urandom(4096))
    assert not report.valid
    assert report.errors[0].pointer == "glb.header"


def test_version_1() -> None:
    data = bytearray(sample_glb())
    struct.pack_into("<I", data, 4, 1)
    assert codes(validate_glb(bytes(data))) == [("GLB_UNSUPPORTED_VERSION", "glb.header")]


@pytest.mark.parametrize("declared", [0, 13, 2**32 - 1])
def test_declared_total_length_differs_from_actual(declared: int) -> None:
    document, binary = sample_document()
    report = validate_glb(pack_glb(document, binary, total_length=declared))
    assert codes(report) == [("GLB_LENGTH_MISMATCH", "glb.header")]


@pytest.mark.parametrize("declared", [2**31, 2**32 - 1, 10**6])
def test_json_chunk_lying_about_its_length(declared: int) -> None:
    document, binary = sample_document()
    report = validate_glb(pack_glb(document, binary, json_length=declared))
    assert_rejected(report, "GLB_CHUNK_TRUNCATED", "glb.chunk[0]")


def test_bin_chunk_lying_about_its_length() -> None:
    document, binary = sample_document()
    report = validate_glb(pack_glb(document, binary, bin_length=2**31))
    assert_rejected(report, "GLB_CHUNK_TRUNCATED", "glb.chunk[1]")
    assert_rejected(report, "BUFFER_MISSING_GLB_DATA", "/buffers/0")


def test_chunk_length_not_multiple_of_four() -> None:
    document, binary = sample_document()
    raw = json.dumps(document).encode()
    raw += b" " * ((1 - len(raw)) % 4)  # valid JSON, one byte past a multiple of four
    data = chunk(CHUNK_JSON, raw) + chunk(CHUNK_BIN, binary)
    report = validate_glb(b"glTF" + struct.pack("<II", 2, 12 + len(data)) + data)
    assert codes(report) == [("GLB_CHUNK_UNALIGNED", "glb.chunk[0]")]


def test_json_chunk_that_is_an_array() -> None:
    _, binary = sample_document()
    assert codes(validate_glb(pack_glb(b"[1, 2, 3]", binary))) == [("JSON_NOT_OBJECT", "glb.chunk[0]")]


def test_json_chunk_not_utf8() -> None:
    assert codes(validate_glb(pack_glb(b'{"a": "\xff\xfe"}', None))) == [("JSON_INVALID_UTF8", "glb.chunk[0]")]


@pytest.mark.parametrize("raw", [b'{"asset": ', b'{"a": NaN}', b'{"a": 1}\x00\x00\x00', b"\xef\xbb\xbf{}", b""])
def test_json_chunk_that_does_not_parse(raw: bytes) -> None:
    assert codes(validate_glb(pack_glb(raw, None))) == [("JSON_SYNTAX_ERROR", "glb.chunk[0]")]


def test_integer_literal_longer_than_the_digit_limit() -> None:
    assert codes(validate_glb(pack_glb(b'{"a": ' + b"9" * 5000 + b"}", None))) == [
        ("JSON_SYNTAX_ERROR", "glb.chunk[0]")
    ]


def test_deeply_nested_json() -> None:
    raw = b'{"extras": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert codes(validate_glb(pack_glb(raw, None))) == [("JSON_TOO_DEEP", "glb.chunk[0]")]


def test_json_chunk_over_the_size_limit_is_not_parsed() -> None:
    document, binary = sample_document()
    report = validate_glb(pack_glb(document, binary), ValidationLimits(max_json_size=1024))
    assert codes(report) == [("JSON_TOO_LARGE", "glb.chunk[0]")]


def test_file_over_the_size_limit_is_not_parsed() -> None:
    report = validate_glb(sample_glb(), ValidationLimits(max_file_size=1000))
    assert codes(report) == [("FILE_TOO_LARGE", "")]
    assert report.stats.file_size == len(sample_glb())


def test_missing_bin_chunk() -> None:
    document, _ = sample_document()
    assert_rejected(validate_glb(pack_glb(document, None)), "BUFFER_MISSING_GLB_DATA", "/buffers/0")


def test_bin_chunk_first() -> None:
    document, binary = sample_document()
    json_chunk = pack_glb(document, None)[12:]
    data = chunk(CHUNK_BIN, binary) + json_chunk
    report = validate_glb(b"glTF" + struct.pack("<II", 2, 12 + len(data)) + data)
    assert_rejected(report, "GLB_FIRST_CHUNK_NOT_JSON", "glb.chunk[0]")


def test_second_bin_chunk() -> None:
    document, binary = sample_document()
    data = pack_glb(document, binary) + chunk(CHUNK_BIN, b"\x00" * 8)
    data = data[:8] + struct.pack("<I", len(data)) + data[12:]
    assert_rejected(validate_glb(data), "GLB_DUPLICATE_CHUNK", "glb.chunk[2]")


def test_header_without_chunks() -> None:
    assert codes(validate_glb(b"glTF" + struct.pack("<II", 2, 12))) == [("GLB_MISSING_JSON_CHUNK", "glb.chunk[0]")]


def test_unknown_chunk_is_a_warning() -> None:
    document, binary = sample_document()
    data = pack_glb(document, binary) + chunk(0x12345678, b"\x00" * 4)
    data = data[:8] + struct.pack("<I", len(data)) + data[12:]
    report = validate_glb(data)
    assert report.valid
    assert [(w.code, w.pointer) for w in report.warnings] == [("GLB_UNKNOWN_CHUNK", "glb.chunk[2]")]


def test_endless_empty_chunks_stop_at_the_chunk_limit() -> None:
    document, binary = sample_document()
    data = pack_glb(document, binary) + chunk(0x12345678, b"") * 100_000
    data = data[:8] + struct.pack("<I", len(data)) + data[12:]
    report = validate_glb(data)
    assert_rejected(report, "GLB_TOO_MANY_CHUNKS", "glb.chunk[16]")
