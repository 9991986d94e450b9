"""DOCX to blocks with python-docx, after checking the zip container against decompression bombs.

Headings come from the paragraph style ("Heading N", or any style based on one) or its outline level, lists
from numbering properties or "List ..." styles, code from preformatted styles; body paragraphs and tables are
read in document order. Page numbers are not known without laying the document out, so blocks carry page 0.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from services.knowledge.document import DocumentBuilder, ExtractionLimits, ListItem
from services.knowledge.errors import CorruptDocumentError, DecompressionLimitError

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)
_CODE_STYLE = re.compile(r"code|preformatted|source", re.I)
# w:outlineLvl 9 means body text; 0-8 are heading levels 1-9.
_BODY_OUTLINE_LEVEL = 9


def check_archive(content: bytes, limits: ExtractionLimits) -> None:
    """Rejects a zip whose members would inflate past the cap, before any XML parser sees it.

    zipfile never returns more bytes for a member than its declared size, so the declared sizes bound the work.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptDocumentError(f"DOCX content is not a valid zip archive: {exc}") from None
    if len(members) > limits.max_archive_members:
        raise DecompressionLimitError(
            f"DOCX archive has {len(members)} members, more than {limits.max_archive_members}",
            limit=limits.max_archive_members,
        )
    inflated = sum(member.file_size for member in members)
    if inflated > limits.max_decompressed_bytes:
        raise DecompressionLimitError(
            f"DOCX archive inflates to {inflated} bytes, more than {limits.max_decompressed_bytes}",
            limit=limits.max_decompressed_bytes,
        )
    if "word/document.xml" not in names:
        raise CorruptDocumentError("DOCX archive has no word/document.xml part")


def read_docx(content: bytes, builder: DocumentBuilder, limits: ExtractionLimits) -> str:
    """Adds the blocks of a DOCX document to `builder`; returns its own title."""
    check_archive(content, limits)
    try:
        document = docx.Document(io.BytesIO(content))
        title = document.core_properties.title or ""
        body = list(document.iter_inner_content())
    except Exception as exc:  # python-docx and lxml raise many kinds of errors on damaged parts
        raise CorruptDocumentError(f"DOCX content cannot be parsed: {type(exc).__name__}: {exc}") from None
    return _DocxReader(builder).read(body) or title


class _DocxReader:
    """Turns body paragraphs and tables into blocks, grouping consecutive list and code paragraphs."""

    def __init__(self, builder: DocumentBuilder) -> None:
        self._builder = builder
        self._items: list[ListItem] = []
        self._code: list[str] = []
        self._numbers: dict[int, int] = {}

    def read(self, body: list[Paragraph | Table]) -> str:
        """Adds every block; returns the text of a Title-styled paragraph, if any."""
        title = ""
        for element in body:
            if isinstance(element, Table):
                self._flush()
                self._builder.table(_table_rows(element))
                continue
            style = _style_names(element)
            text = element.text
            if not text.strip():
                continue
            if "title" in style and not title:
                title = text
            if level := _heading_level(element, style):
                self._flush()
                self._builder.heading(text, level)
            elif (depth := _list_depth(element, style)) is not None:
                self._flush_code()
                self._add_item(text, depth, numbered=any("number" in name for name in style))
            elif any(_CODE_STYLE.search(name) for name in style):
                self._flush_list()
                self._code.append(text)
            else:
                self._flush()
                self._builder.paragraph(text)
        self._flush()
        return title

    def _add_item(self, text: str, depth: int, *, numbered: bool) -> None:
        """Adds a list item, numbering it within its level when the style is a numbered one."""
        for deeper in [level for level in self._numbers if level > depth]:
            del self._numbers[deeper]
        ordinal = None
        if numbered:
            ordinal = self._numbers.get(depth, 0) + 1
            self._numbers[depth] = ordinal
        self._items.append(ListItem(text, depth, ordinal))

    def _flush_list(self) -> None:
        """Ends the open list, if any."""
        if self._items:
            self._builder.list_items(self._items)
            self._items = []
            self._numbers.clear()

    def _flush_code(self) -> None:
        """Ends the open code block, if any."""
        if self._code:
            self._builder.code("\n".join(self._code))
            self._code = []

    def _flush(self) -> None:
        """Ends whatever group is open."""
        self._flush_list()
        self._flush_code()


def _style_names(paragraph: Paragraph) -> list[str]:
    """The lower-cased names of the paragraph's style and of the styles it is based on."""
    names: list[str] = []
    style: Any = paragraph.style
    while style is not None and len(names) < 10:
        names.append(str(style.name or "").lower())
        style = style.base_style
    return names


def _heading_level(paragraph: Paragraph, style: list[str]) -> int:
    """1-9 for a heading paragraph, 0 for any other."""
    for name in style:
        if match := _HEADING_STYLE.match(name):
            return int(match.group(1))
    for element in (paragraph._p.pPr, getattr(paragraph.style, "element", None)):
        level = _outline_level(element)
        if level is not None:
            return level + 1 if level < _BODY_OUTLINE_LEVEL else 0
    return 0


def _outline_level(element: Any) -> int | None:
    """The w:outlineLvl value under a paragraph's or a style's properties, if set."""
    if element is None:
        return None
    found = element.xpath("./w:outlineLvl/@w:val | ./w:pPr/w:outlineLvl/@w:val")
    return int(found[0]) if found and str(found[0]).isdigit() else None


def _list_depth(paragraph: Paragraph, style: list[str]) -> int | None:
    """The nesting depth of a list paragraph (0 outermost), or None when it is not one."""
    properties = paragraph._p.pPr
    levels = properties.xpath("./w:numPr/w:ilvl/@w:val") if properties is not None else []
    if levels:
        return int(levels[0]) if str(levels[0]).isdigit() else 0
    if properties is not None and properties.numPr is not None:
        return 0
    if any(name.startswith("list") for name in style):
        return 0
    return None


def _table_rows(table: Table) -> list[list[str]]:
    """Cell texts row by row; a merged cell, which python-docx repeats, is read once."""
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:
                cells.append(cell.text)
            previous = cell._tc
        rows.append(cells)
    return rows
