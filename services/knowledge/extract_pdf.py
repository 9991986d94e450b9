"""PDF to blocks with pypdf: text per page, headings from the outline, paragraphs rebuilt from lines.

pypdf returns a page's text as lines without paragraph marks, so paragraphs are rebuilt here with layout rules:
a blank line, or a short line that ends a sentence, ends a paragraph; hyphenated line ends are joined; bulleted
lines form lists; a line that repeats at the top or bottom of most pages (running header, page number) is dropped.
Decompression caps go to pypdf's own limits through a context-local configuration.
"""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pypdf
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from services.knowledge.document import DocumentBuilder, ExtractionLimits, ListItem, normalise_inline
from services.knowledge.errors import CorruptDocumentError, DecompressionLimitError

_BULLET = re.compile(r"^(?:[•·▪◦‣∙–-]|\(?\d{1,3}[.)])\s+(?=\S)")
_SENTENCE_END = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_DIGITS = re.compile(r"\d+")
# Titles that PDF producers write into the metadata instead of the real one.
_JUNK_TITLE = re.compile(r"^(?:microsoft (?:word|powerpoint) - |untitled)|\.(?:docx?|pptx?|pdf|tex|odt)$", re.I)


@dataclass
class _Page:
    """The lines of one page and the outline headings that start on it."""

    number: int
    lines: list[str]
    headings: list[tuple[str, int]] = field(default_factory=list)


def read_pdf(content: bytes, builder: DocumentBuilder, limits: ExtractionLimits) -> tuple[str, int]:
    """Adds the blocks of a PDF to `builder`; returns the document's own title and its page count."""
    caps = limits.max_decompressed_bytes
    try:
        with pypdf.apply_configuration(
            maximum_declared_stream_length=caps,
            array_based_stream_maximum_output_length=caps,
            zlib_maximum_output_length=caps,
            lzw_maximum_output_length=caps,
            run_length_maximum_output_length=caps,
            brotli_maximum_output_length=caps,
            jbig2_maximum_output_length=caps,
            image_maximum_buffer_size=caps,
        ):
            reader = pypdf.PdfReader(io.BytesIO(content))
            _decrypt(reader)
            pages = _read_pages(reader, limits.max_pages)
            title = _metadata_title(reader)
            page_count = len(reader.pages)
    except LimitReachedError as exc:
        raise DecompressionLimitError(
            f"application/pdf content is over a decompression limit: {exc}", limit=caps
        ) from None
    except (CorruptDocumentError, DecompressionLimitError):
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files; all mean the same here
        raise CorruptDocumentError(f"application/pdf content cannot be parsed: {type(exc).__name__}: {exc}") from None
    _drop_running_lines(pages)
    for page in pages:
        _read_page(page, builder)
    return title, page_count


def _decrypt(reader: pypdf.PdfReader) -> None:
    """Opens a PDF encrypted with an empty user password (common for 'no copying' PDFs); rejects the others."""
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED
    except (DependencyError, FileNotDecryptedError, NotImplementedError) as exc:
        raise CorruptDocumentError(f"application/pdf content is encrypted in an unsupported way: {exc}") from None
    if not opened:
        raise CorruptDocumentError("application/pdf content is password-protected")


def _read_pages(reader: pypdf.PdfReader, max_pages: int) -> list[_Page]:
    """The text lines of each page (up to `max_pages`), with outline headings attached to their pages."""
    pages = []
    failures = 0
    for index, page in enumerate(reader.pages):
        if index >= max_pages:
            break
        try:
            text = page.extract_text()
        except LimitReachedError:
            raise
        except Exception:  # one damaged page should not lose the rest of the document
            failures += 1
            text = ""
        pages.append(_Page(index + 1, [line.strip() for line in text.splitlines()]))
    if pages and failures == len(pages):
        raise CorruptDocumentError("application/pdf content has no readable page")
    try:
        outline = list(_outline(reader, reader.outline, 1))
    except LimitReachedError:
        raise
    except Exception:  # a broken outline only loses the headings
        outline = []
    for title, level, number in outline:
        if number <= len(pages):
            pages[number - 1].headings.append((title, level))
    return pages


def _outline(reader: pypdf.PdfReader, entries: Any, level: int) -> Iterator[tuple[str, int, int]]:
    """(title, level, 1-based page) for each outline entry, depth first."""
    for entry in entries:
        if isinstance(entry, list):
            yield from _outline(reader, entry, level + 1)
            continue
        try:
            number = reader.get_destination_page_number(entry)
        except Exception:  # a dangling destination only loses that heading
            number = None
        if number is not None and number >= 0 and (title := normalise_inline(str(entry.title or ""))):
            yield title, min(level, 9), number + 1


def _metadata_title(reader: pypdf.PdfReader) -> str:
    """The title in the document information, unless it is a producer's placeholder."""
    metadata = reader.metadata
    title = normalise_inline(str(metadata.title or "")) if metadata is not None else ""
    return "" if _JUNK_TITLE.search(title) else title


def _drop_running_lines(pages: list[_Page]) -> None:
    """Removes first and last lines that repeat (digits aside) on more than half of three or more pages."""
    if len(pages) < 3:
        return
    for edge in (0, -1):
        counts = Counter(_DIGITS.sub("#", page.lines[edge]) for page in pages if page.lines)
        running = {line for line, count in counts.items() if count * 2 > len(pages)}
        for page in pages:
            if page.lines and _DIGITS.sub("#", page.lines[edge]) in running:
                page.lines.pop(edge)


def _read_page(page: _Page, builder: DocumentBuilder) -> None:
    """Adds one page's headings, paragraphs and lists."""
    widths = [len(line) for line in page.lines if len(line) >= 20]
    full_width = statistics.median(widths) if widths else 0
    headings = {_key(title): level for title, level in page.headings}
    paragraph: list[str] = []
    items: list[ListItem] = []

    def flush() -> None:
        if paragraph:
            builder.paragraph(_join_lines(paragraph), page.number)
            paragraph.clear()
        if items:
            builder.list_items(list(items), page.number)
            items.clear()

    for line in page.lines:
        if not line:
            flush()
        elif (level := headings.pop(_key(line), 0)) > 0:
            flush()
            builder.heading(line, level, page.number)
        elif bullet := _BULLET.match(line):
            if paragraph:
                flush()
            items.append(ListItem(line[bullet.end() :]))
        elif items and not paragraph and not _SENTENCE_END.search(items[-1].text):
            items[-1] = ListItem(_join_lines([items[-1].text, line]))  # a wrapped list item
        else:
            if items:
                flush()
            paragraph.append(line)
            if _SENTENCE_END.search(line) and len(line) < 0.75 * full_width:
                flush()
    flush()


def _join_lines(lines: list[str]) -> str:
    """Joins wrapped lines, mending words hyphenated across a line end."""
    text = lines[0]
    for line in lines[1:]:
        mend = _HYPHENATED.search(text) and line[:1].islower()
        text = text[:-1] + line if mend else f"{text} {line}"
    return text


def _key(text: str) -> str:
    """Heading text compared loosely: case and spacing ignored."""
    return normalise_inline(text).casefold()
