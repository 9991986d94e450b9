"""Reads an image's format and pixel size from its first bytes (PNG, JPEG, WebP, KTX2) without decoding it."""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KTX2_SIGNATURE = b"\xabKTX 20\xbb\r\n\x1a\n"
#: JPEG start-of-frame markers (C0-CF except DHT C4, JPG C8 and DAC CC) carry the frame size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Marker steps read before giving up, so a run of fill bytes cannot keep the loop going for megabytes.
_JPEG_MAX_STEPS = 4096
#: JPEG markers with no length field.
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says."""

    mime_type: str
    """The format, as a MIME type: image/png, image/jpeg, image/webp or image/ktx2."""
    width: int
    """Width in pixels."""
    height: int
    """Height in pixels."""


def sniff_mime_type(data: bytes | memoryview) -> str | None:
    """The format an image's signature announces, or None for anything else."""
    head = bytes(data[:16])
    if head.startswith(PNG_SIGNATURE):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(KTX2_SIGNATURE):
        return "image/ktx2"
    return None


def read_image_header(data: bytes | memoryview) -> ImageHeader | None:
    """The format and size of an image, or None if the format is unknown or its header is cut short or corrupt."""
    mime_type = sniff_mime_type(data)
    size: tuple[int, int] | None = None
    if mime_type == "image/png":
        size = _png_size(data)
    elif mime_type == "image/jpeg":
        size = _jpeg_size(data)
    elif mime_type == "image/webp":
        size = _webp_size(bytes(data[:30]))
    elif mime_type == "image/ktx2":
        size = _ktx2_size(bytes(data[:36]))
    if mime_type is None or size is None:
        return None
    return ImageHeader(mime_type, size[0], size[1])


def _png_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """Width and height from the IHDR chunk, which must come first."""
    head = bytes(data[8:24])
    if len(head) < 16 or head[4:8] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[8:16])
    return width, height


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame segment, walking at most a bounded number of segments."""
    offset = 2
    for _ in range(_JPEG_MAX_STEPS):
        if offset + 4 > len(data):
            return None
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", bytes(data[offset + 2 : offset + 4]))
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            frame = bytes(data[offset + 5 : offset + 9])
            if len(frame) < 4:
                return None
            height, width = struct.unpack(">HH", frame)
            return width, height
        offset += 2 + length
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a lossy (VP8), lossless (VP8L) or extended (VP8X) WebP header."""
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def _ktx2_size(head: bytes) -> tuple[int, int] | None:
    """pixelWidth and pixelHeight from the KTX2 header."""
    if len(head) < 28:
        return None
    width, height = struct.unpack("<II", head[20:28])
    return width, max(height, 1)
