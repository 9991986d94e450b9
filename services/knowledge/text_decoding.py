"""Bytes of a text format to str: byte-order mark, declared charset, HTML meta charset, UTF-8, then detection."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers (WHATWG Encoding) read as windows-1252, whose 0x80-0x9F are printable, unlike latin-1's.
_WINDOWS_1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def decode_text(content: bytes, charset: str | None = None, *, html: bool = False) -> str:
    """The text of `content`; never fails, replacing what no candidate encoding can decode."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(encoding, errors="replace")
    candidates = [charset] if charset else []
    if html and (meta := _META_CHARSET.search(content[:4096])):
        candidates.append(meta.group(1).decode("ascii"))
    candidates.append("utf-8")
    for label in candidates:
        encoding = "cp1252" if label.lower() in _WINDOWS_1252_LABELS else label
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    best = charset_normalizer.from_bytes(content[:1_000_000]).best()
    # cp1252 is the usual encoding of text that is not UTF-8 and that detection could not place.
    return content.decode(best.encoding if best is not None else "cp1252", errors="replace")
