"""Image sizes read from headers: PNG, JPEG, WebP (lossy, lossless, extended) and KTX2."""

from __future__ import annotations

import struct

import pytest

from services.avatar.image_headers import KTX2_SIGNATURE, ImageHeader, read_image_header
from tests.services.avatar.glb_samples import png_bytes


def jpeg(width: int, height: int, *, exif: int = 0) -> bytes:
    """A JPEG header: SOI, an APP0 and optional APP1 segment, then a baseline frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x02\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\x00" * exif if exif else b""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + app1 + b"\xff\xff" + sof + b"\xff\xda\x00\x08"


def webp_lossy(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(frame)) + b"WEBP" + b"VP8 " + struct.pack("<I", len(frame)) + frame


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8L" + struct.pack("<I", len(body)) + body


def webp_extended(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8X" + struct.pack("<I", len(body)) + body


def ktx2(width: int, height: int) -> bytes:
    return KTX2_SIGNATURE + struct.pack("<IIII", 0, 1, width, height) + b"\x00" * 16


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_bytes(640, 480), ImageHeader("image/png", 640, 480)),
        (jpeg(1920, 1080), ImageHeader("image/jpeg", 1920, 1080)),
        (jpeg(300, 200, exif=60000), ImageHeader("image/jpeg", 300, 200)),
        (webp_lossy(1024, 512), ImageHeader("image/webp", 1024, 512)),
        (webp_lossless(4097, 3), ImageHeader("image/webp", 4097, 3)),
        (webp_extended(16000, 9000), ImageHeader("image/webp", 16000, 9000)),
        (ktx2(2048, 2048), ImageHeader("image/ktx2", 2048, 2048)),
    ],
)
def test_reads_format_and_size(data: bytes, expected: ImageHeader) -> None:
    assert read_image_header(data) == expected
    assert read_image_header(memoryview(data)) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a\x01\x00\x01\x00",
        png_bytes()[:20],
        jpeg(10, 10)[:30],
        b"\xff\xd8\xff" + b"\xff" * 100_000,  # fill bytes only: the walk gives up after a bounded number of steps
        b"\xff\xd8\xff\xe0\x00\x00",  # a segment length below 2 would never move forward
        webp_lossy(10, 10)[:24],
        ktx2(4, 4)[:20],
    ],
)
def test_unknown_or_cut_headers_give_none(data: bytes) -> None:
    assert read_image_header(data) is None
