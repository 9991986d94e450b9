"""Format detection: declared media type first, then the file or URL extension, then the bytes."""

from __future__ import annotations

import pytest

from services.knowledge.errors import UnsupportedFormatError
from services.knowledge.formats import DocumentFormat, detect_format, parse_media_type
from tests.services.knowledge.sample_documents import DOCX_MIME, PRICING_HTML, make_docx, make_pdf


def test_declared_type_wins_over_extension_and_keeps_charset() -> None:
    detected = detect_format(b"# not markdown", "text/plain; charset=ISO-8859-1", filename="notes.md")
    assert detected.format is DocumentFormat.PLAIN
    assert detected.charset == "iso-8859-1"


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("text/x-markdown", DocumentFormat.MARKDOWN),
        ("application/xhtml+xml", DocumentFormat.HTML),
        ("TEXT/HTML; charset=utf-8", DocumentFormat.HTML),
        ("text/x-python", DocumentFormat.PLAIN),
        ("application/csv", DocumentFormat.CSV),
        (DOCX_MIME, DocumentFormat.DOCX),
    ],
)
def test_media_type_aliases(mime: str, expected: DocumentFormat) -> None:
    assert detect_format(b"x", mime).format is expected


@pytest.mark.parametrize(
    ("filename", "url", "expected"),
    [
        ("Guide.PDF", "", DocumentFormat.PDF),
        ("notes.markdown", "", DocumentFormat.MARKDOWN),
        ("", "https://example.test/docs/page.htm?x=1", DocumentFormat.HTML),
        ("table.csv", "https://example.test/page.html", DocumentFormat.CSV),
    ],
)
def test_extension_decides_when_type_is_generic(filename: str, url: str, expected: DocumentFormat) -> None:
    assert detect_format(b"plain words", "application/octet-stream", filename, url).format is expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (make_pdf(), DocumentFormat.PDF),
        (make_docx(), DocumentFormat.DOCX),
        (PRICING_HTML, DocumentFormat.HTML),
        (b"\xef\xbb\xbf<!-- generated -->\n<html><body>x</body></html>", DocumentFormat.HTML),
        (b"# Heading\n\nBody text.", DocumentFormat.MARKDOWN),
        (b"See [the docs](https://example.test) for more.", DocumentFormat.MARKDOWN),
        (b"Just a few words of plain prose.", DocumentFormat.PLAIN),
    ],
)
def test_sniffing(content: bytes, expected: DocumentFormat) -> None:
    assert detect_format(content, "", "upload", "").format is expected


@pytest.mark.parametrize(
    ("content", "mime", "named"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "", "PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0", "", "legacy Office"),
        (b"PK\x03\x04\x14\0\0\0", "application/octet-stream", "zip archive"),
        (b"\0\x01\x02binary", "", "binary content"),
        (b"abc", "image/png", "'image/png'"),
        (b"{\\rtf1 hello}", "text/rtf", "'text/rtf'"),
    ],
)
def test_unsupported_content_is_named(content: bytes, mime: str, named: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=named) as caught:
        detect_format(content, mime)
    assert caught.value.reason == "DOCUMENT_TYPE_UNSUPPORTED"


def test_parse_media_type() -> None:
    assert parse_media_type(' Text/HTML ; Charset="UTF-8"') == ("text/html", "utf-8")
    assert parse_media_type("") == ("", None)


def test_binary_content_declared_as_text_is_sniffed() -> None:
    assert detect_format(make_pdf(), "text/plain").format is DocumentFormat.PDF
    assert detect_format(make_docx(), "text/html").format is DocumentFormat.DOCX
    with pytest.raises(UnsupportedFormatError, match="PNG image"):
        detect_format(b"\x89PNG\r\n\x1a\n\0\0", "text/plain")
