"""Turns an uploaded or fetched document into normalised text and structural blocks; the ingestion worker's first step.

CPU-bound and synchronous: call it through `asyncio.to_thread` from async code.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from services.knowledge.document import (
    Block,
    BlockKind,
    DocumentBuilder,
    ExtractedDocument,
    ExtractionLimits,
    ListItem,
)
from services.knowledge.errors import DocumentTooLargeError, EmptyDocumentError
from services.knowledge.extract_docx import read_docx
from services.knowledge.extract_html import read_html
from services.knowledge.extract_markdown import read_markdown
from services.knowledge.extract_pdf import read_pdf
from services.knowledge.extract_text import read_csv, read_plain_text
from services.knowledge.formats import DocumentFormat, detect_format
from services.knowledge.text_decoding import decode_text

__all__ = [
    "Block",
    "BlockKind",
    "DocumentFormat",
    "ExtractedDocument",
    "ExtractionLimits",
    "ListItem",
    "extract",
]

_DEFAULT_LIMITS = ExtractionLimits()


def extract(
    content: bytes,
    mime_type: str = "",
    filename: str = "",
    url: str = "",
    *,
    limits: ExtractionLimits = _DEFAULT_LIMITS,
) -> ExtractedDocument:
    """Extracts the text and structure of a document; raises an ExtractionError subclass naming what is wrong."""
    if len(content) > limits.max_input_bytes:
        raise DocumentTooLargeError(
            f"document is {len(content)} bytes, more than the {limits.max_input_bytes} allowed",
            limit=limits.max_input_bytes,
        )
    if not content.strip():
        raise EmptyDocumentError("document is empty")
    detected = detect_format(content, mime_type, filename, url)
    kind = detected.format
    builder = DocumentBuilder(limits)
    own_title = ""
    page_count = 0
    if kind is DocumentFormat.PDF:
        own_title, page_count = read_pdf(content, builder, limits)
    elif kind is DocumentFormat.DOCX:
        own_title = read_docx(content, builder, limits)
    elif kind is DocumentFormat.HTML:
        own_title = read_html(decode_text(content, detected.charset, html=True), builder)
    elif kind is DocumentFormat.MARKDOWN:
        own_title = read_markdown(decode_text(content, detected.charset), builder)
    elif kind is DocumentFormat.CSV:
        read_csv(decode_text(content, detected.charset), builder)
    else:
        read_plain_text(decode_text(content, detected.charset), builder)
    if kind is DocumentFormat.PDF and not builder.blocks:
        raise EmptyDocumentError(
            "no text found in the application/pdf document; scanned pages without a text layer need OCR, which is"
            " not supported"
        )
    title = own_title.strip() or builder.first_heading() or _name_title(filename, url) or _opening(builder)
    return builder.build(title=title, mime_type=kind.value, page_count=page_count)


def _name_title(filename: str, url: str) -> str:
    """A title from the file name (without extension), else from the URL's last path segment or host."""
    if filename:
        return PurePosixPath(filename.replace("\\", "/")).stem
    if url:
        parts = urlsplit(url)
        segment = PurePosixPath(unquote(parts.path)).stem
        return segment or parts.hostname or ""
    return ""


def _opening(builder: DocumentBuilder) -> str:
    """The first line of the first block, cut to 80 characters: the last resort for a title."""
    return builder.blocks[0].text.split("\n", 1)[0][:80] if builder.blocks else ""
