"""The extracted form of a document: typed blocks over one normalised text, and the builder that keeps offsets true.

Every extractor feeds a `DocumentBuilder`; it normalises each block's text, joins blocks with a blank line and
records where each block lies, so `document.text[block.char_start:block.char_end] == block.text` always holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.knowledge.errors import DocumentTooLargeError, EmptyDocumentError

#: Text between two blocks of the full text.
BLOCK_SEPARATOR = "\n\n"


class BlockKind(StrEnum):
    """What a block of a document is."""

    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    CODE = "code"
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document, located in the document's full text."""

    kind: BlockKind
    """What the block is."""
    text: str
    """Normalised text; list items and table rows are one per line, code keeps its lines."""
    title_path: tuple[str, ...]
    """Headings enclosing the block, outermost first; a heading's own path ends with itself."""
    char_start: int
    """Offset of the block's first character in `ExtractedDocument.text`."""
    char_end: int
    """Offset just past the block's last character in `ExtractedDocument.text`."""
    heading_level: int = 0
    """1 (outermost) to 9 for headings; 0 for every other kind."""
    page: int = 0
    """1-based page of a paged document (PDF); 0 when the document is not paged."""


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """The text of a document, its structure, and its title."""

    title: str
    """Title for citations: the document's own title, else its first heading, else the file name."""
    mime_type: str
    """The media type the content was read as."""
    text: str
    """Normalised full text: the blocks' texts joined by `BLOCK_SEPARATOR`."""
    blocks: tuple[Block, ...]
    """The blocks in reading order."""
    page_count: int = 0
    """Pages of a paged document; 0 when not paged."""


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Caps that keep one hostile or huge upload from exhausting a worker."""

    max_input_bytes: int = 10 * 1024 * 1024
    """Largest accepted content; the contract allows uploads of at most 10 MiB."""
    max_decompressed_bytes: int = 100 * 1024 * 1024
    """Most bytes a DOCX may inflate to in total, and any one PDF stream may inflate to."""
    max_archive_members: int = 5_000
    """Most members a DOCX (a zip archive) may have."""
    max_text_chars: int = 5_000_000
    """Most characters of extracted text (about 1,000 dense pages)."""
    max_pages: int = 2_000
    """Most PDF pages read."""


@dataclass(frozen=True, slots=True)
class ListItem:
    """One item of a list as an extractor found it."""

    text: str
    depth: int = 0
    """Nesting depth, 0 for top-level items."""
    ordinal: int | None = None
    """The item's number in an ordered list; None for bullets."""


# Characters that carry no text: soft hyphen, zero-width space/joiners, word joiner, BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
# C0/C1 control characters other than tab and newline; they break tokenizers and tsvector input.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Typographic ligatures (common in PDFs) that would otherwise hide words like "ﬁnd" from search.
_LIGATURES = re.compile("[\ufb00-\ufb06]")
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    """NFC-normalises, expands ligatures and drops invisible and control characters."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))


def normalise_inline(text: str) -> str:
    """Text of one paragraph, heading, item or cell: cleaned, whitespace collapsed to single spaces."""
    return _SPACES.sub(" ", _clean(text)).strip()


def normalise_preformatted(text: str) -> str:
    """Text of a code block: cleaned, lines kept, trailing spaces and surrounding blank lines dropped."""
    lines = [line.rstrip() for line in _clean(text).expandtabs(4).split("\n")]
    return "\n".join(lines).strip("\n")


class DocumentBuilder:
    """Collects blocks in reading order, tracks the heading path and the offsets into the full text."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self._limits = limits
        self._parts: list[str] = []
        self._length = 0
        self._blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []

    @property
    def blocks(self) -> Sequence[Block]:
        """The blocks added so far."""
        return self._blocks

    def heading(self, text: str, level: int, page: int = 0) -> None:
        """Adds a heading of `level` (1 outermost); it closes every open heading of the same or a deeper level."""
        text = normalise_inline(text)
        if not text:
            return
        level = min(max(level, 1), 9)
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self._append(BlockKind.HEADING, text, level, page)

    def paragraph(self, text: str, page: int = 0) -> None:
        """Adds a paragraph of running text."""
        self._append(BlockKind.PARAGRAPH, normalise_inline(text), 0, page)

    def list_items(self, items: Sequence[ListItem], page: int = 0) -> None:
        """Adds a list, one item a line, indented by depth and marked `-` or with its number."""
        lines = []
        for item in items:
            text = normalise_inline(item.text)
            if text:
                marker = "-" if item.ordinal is None else f"{item.ordinal}."
                lines.append(f"{'  ' * item.depth}{marker} {text}")
        self._append(BlockKind.LIST, "\n".join(lines), 0, page)

    def code(self, text: str, page: int = 0) -> None:
        """Adds preformatted text, keeping its lines."""
        self._append(BlockKind.CODE, normalise_preformatted(text), 0, page)

    def table(self, rows: Sequence[Sequence[str]], page: int = 0) -> None:
        """Adds a table, one row a line with cells joined by ` | `; empty rows are left out."""
        lines = []
        for row in rows:
            cells = [normalise_inline(cell) for cell in row]
            if any(cells):
                lines.append(" | ".join(cells))
        self._append(BlockKind.TABLE, "\n".join(lines), 0, page)

    def first_heading(self) -> str:
        """The text of the first heading, or an empty string."""
        return next((b.text for b in self._blocks if b.kind is BlockKind.HEADING), "")

    def build(self, *, title: str, mime_type: str, page_count: int = 0) -> ExtractedDocument:
        """The finished document; raises EmptyDocumentError when no text was found."""
        if not self._blocks:
            raise EmptyDocumentError(f"no text found in the {mime_type} document")
        return ExtractedDocument(
            title=normalise_inline(title)[:300],
            mime_type=mime_type,
            text="".join(self._parts),
            blocks=tuple(self._blocks),
            page_count=page_count,
        )

    def _append(self, kind: BlockKind, text: str, level: int, page: int) -> None:
        """Places a normalised block after the previous one."""
        if not text:
            return
        if self._parts:
            self._parts.append(BLOCK_SEPARATOR)
            self._length += len(BLOCK_SEPARATOR)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        if self._length > self._limits.max_text_chars:
            raise DocumentTooLargeError(
                f"extracted text is over {self._limits.max_text_chars} characters",
                limit=self._limits.max_text_chars,
            )
        path = tuple(heading for _, heading in self._headings)
        self._blocks.append(Block(kind, text, path, start, self._length, level, page))
