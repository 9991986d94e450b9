"""Plain text and CSV to blocks.

Plain text has no markup to parse, so the little structure it has is read with a few rules written here:
blank lines end paragraphs, runs of bulleted or numbered lines are lists, indented runs are code, and a line
underlined with `===` or `---` is a heading. CSV goes through the stdlib `csv` module.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap

from services.knowledge.document import DocumentBuilder, ListItem
from services.knowledge.errors import CorruptDocumentError

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LIST_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:(?P<bullet>[-*+•·–])|(?P<number>\d{1,3})[.)])\s+(?P<text>\S.*)$")
_UNDERLINE = re.compile(r"^(?:=+|-+)$")


def read_plain_text(text: str, builder: DocumentBuilder) -> None:
    """Adds the blocks of a plain-text document to `builder`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for raw in _PARAGRAPH_BREAK.split(text):
        lines = [line.rstrip() for line in raw.split("\n") if line.strip()]
        if not lines:
            continue
        if len(lines) == 2 and len(lines[1].strip()) >= 3 and _UNDERLINE.match(lines[1].strip()):
            builder.heading(lines[0], 1 if lines[1].strip()[0] == "=" else 2)
        elif all(_LIST_LINE.match(line) for line in lines):
            builder.list_items([_list_item(line) for line in lines])
        elif all(line.startswith(("    ", "\t")) for line in lines):
            builder.code(textwrap.dedent("\n".join(lines)))
        else:
            builder.paragraph(" ".join(lines))


def _list_item(line: str) -> ListItem:
    """One bulleted or numbered line as a list item."""
    match = _LIST_LINE.match(line)
    assert match is not None  # the caller matched every line already
    depth = len(match["indent"].expandtabs(4)) // 2
    ordinal = int(match["number"]) if match["number"] else None
    return ListItem(match["text"], depth, ordinal)


def read_csv(text: str, builder: DocumentBuilder) -> None:
    """Adds a CSV file as one table whose rows read `column: value | column: value`, so each row stands alone."""
    sample = text[: 64 * 1024]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise CorruptDocumentError(f"text/csv content cannot be parsed: {exc}") from None
    if not rows:
        return
    header = [cell.strip() for cell in rows[0]]
    if len(rows) == 1 or not all(header):
        builder.table(rows)
        return
    builder.table([_labelled(header, row) for row in rows[1:]])


def _labelled(header: list[str], row: list[str]) -> list[str]:
    """The non-empty cells of a row, each prefixed with its column name (cells past the header stay bare)."""
    return [f"{header[i]}: {value}" if i < len(header) else value for i, value in enumerate(row) if value.strip()]
