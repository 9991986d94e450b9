"""Which format a document is in: the declared media type (unless the bytes are plainly binary), then the file or
URL extension, then the bytes."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from services.knowledge.errors import UnsupportedFormatError


class DocumentFormat(StrEnum):
    """A format the extractor reads, named by its media type."""

    PLAIN = "text/plain"
    MARKDOWN = "text/markdown"
    HTML = "text/html"
    CSV = "text/csv"
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True, slots=True)
class DetectedFormat:
    """The format to read the content as, and the character set its media type declared, if any."""

    format: DocumentFormat
    charset: str | None = None


_ALIASES: dict[str, DocumentFormat] = {
    **{f.value: f for f in DocumentFormat},
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "text/md": DocumentFormat.MARKDOWN,
    "application/xhtml+xml": DocumentFormat.HTML,
    "application/x-pdf": DocumentFormat.PDF,
    "application/csv": DocumentFormat.CSV,
    "text/x-csv": DocumentFormat.CSV,
    "text/comma-separated-values": DocumentFormat.CSV,
}
# Types that say nothing about the content; the extension or the bytes decide instead.
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown", "application/zip"})
# text/* types that are not plain prose even though they are text.
_NOT_PLAIN = frozenset({"text/rtf", "text/calendar", "text/vcard"})

_EXTENSIONS: dict[str, DocumentFormat] = {
    ".txt": DocumentFormat.PLAIN,
    ".text": DocumentFormat.PLAIN,
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".mdown": DocumentFormat.MARKDOWN,
    ".mkd": DocumentFormat.MARKDOWN,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".xhtml": DocumentFormat.HTML,
    ".csv": DocumentFormat.CSV,
    ".pdf": DocumentFormat.PDF,
    ".docx": DocumentFormat.DOCX,
}

# Binary signatures of formats people upload by mistake, so the error can say what the file is.
_KNOWN_BINARY: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office (.doc/.xls/.ppt) file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "a gzip archive"),
)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
# ATX headings, code fences and task items at a line start, or a [link](target) anywhere.
_MARKDOWN_HINT = re.compile(r"^(?:#{1,6}[ \t]+\S|```|~~~|[ ]{0,3}[-*+][ \t]+\[[ xX]\])|\[[^\]\n]+\]\([^)\s]+\)", re.M)
_SUPPORTED = ", ".join(f.value for f in DocumentFormat)
_TEXT_FORMATS = frozenset({DocumentFormat.PLAIN, DocumentFormat.MARKDOWN, DocumentFormat.HTML, DocumentFormat.CSV})
_BINARY_STARTS = (b"%PDF-", b"PK\x03\x04", *(signature for signature, _ in _KNOWN_BINARY if signature != b"{\\rtf"))


def parse_media_type(mime_type: str) -> tuple[str, str | None]:
    """The lower-cased essence of a media type and its charset parameter, if any."""
    essence, *params = mime_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    return essence.strip().lower(), charset


def detect_format(content: bytes, mime_type: str = "", filename: str = "", url: str = "") -> DetectedFormat:
    """The format of `content`; raises UnsupportedFormatError naming the type that cannot be read."""
    essence, charset = parse_media_type(mime_type)
    if essence not in _GENERIC:
        known = _ALIASES.get(essence)
        if known is None and essence.startswith("text/") and essence not in _NOT_PLAIN:
            known = DocumentFormat.PLAIN
        if known is None:
            raise UnsupportedFormatError(
                f"unsupported document type {essence!r}; supported: {_SUPPORTED}", metadata={"mime_type": essence}
            )
        if known in _TEXT_FORMATS and content.startswith(_BINARY_STARTS):
            # A PDF or DOCX sent as text/plain (a common client mistake) would otherwise be indexed as garbage.
            return DetectedFormat(sniff_format(content), charset)
        return DetectedFormat(known, charset)
    for name in (filename, urlsplit(url).path if url else ""):
        by_extension = _EXTENSIONS.get(PurePosixPath(name).suffix.lower()) if name else None
        if by_extension is not None:
            return DetectedFormat(by_extension, charset)
    return DetectedFormat(sniff_format(content), charset)


def sniff_format(content: bytes) -> DocumentFormat:
    """The format the bytes look like; raises UnsupportedFormatError for binary content of other kinds."""
    head = content[:4096]
    if b"%PDF-" in head[:1024]:
        return DocumentFormat.PDF
    if head.startswith(b"PK\x03\x04"):
        if _is_docx(content):
            return DocumentFormat.DOCX
        raise UnsupportedFormatError("unsupported document type: a zip archive that is not a DOCX document")
    for signature, what in _KNOWN_BINARY:
        if head.startswith(signature):
            raise UnsupportedFormatError(f"unsupported document type: {what}")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFormatError("unsupported document type: binary content of an unknown kind")
    if _HTML_START.match(head.removeprefix(b"\xef\xbb\xbf")):
        return DocumentFormat.HTML
    if _MARKDOWN_HINT.search(head.decode("utf-8", errors="replace")):
        return DocumentFormat.MARKDOWN
    return DocumentFormat.PLAIN


def _is_docx(content: bytes) -> bool:
    """Whether a zip archive holds a Word main document part."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
