"""Extraction and chunking of real documents: Debian's PostgreSQL 15 HTML manual (skipped when not installed)."""

from __future__ import annotations

from pathlib import Path

from services.knowledge.chunking import ChunkingOptions, chunk_document
from services.knowledge.document import BlockKind
from services.knowledge.extract import extract
from services.knowledge.tokens import WordPieceCounter

# Navigation text every page of the manual carries in its header and footer.
NAVIGATION = ("Prev", "Next", "Home", "Up")


def read(docs: Path, page: str) -> bytes:
    """The bytes of one page of the manual."""
    return (docs / page).read_bytes()


def test_reference_page_structure(postgres_docs: Path) -> None:
    document = extract(read(postgres_docs, "sql-createtable.html"), "text/html")
    assert document.title == "CREATE TABLE"
    headings = [b.text for b in document.blocks if b.kind is BlockKind.HEADING]
    assert {"Synopsis", "Description", "Parameters", "Examples", "Compatibility"} <= set(headings)
    synopsis = next(b for b in document.blocks if b.kind is BlockKind.CODE)
    assert synopsis.title_path[-1] == "Synopsis"
    assert synopsis.text.startswith("CREATE [ [ GLOBAL | LOCAL ] { TEMPORARY | TEMP } | UNLOGGED ] TABLE")
    assert "\n" in synopsis.text
    for block in document.blocks:
        assert document.text[block.char_start : block.char_end] == block.text
    lines = document.text.split("\n")
    for word in NAVIGATION:
        assert word not in lines


def test_navigation_header_and_footer_are_dropped(postgres_docs: Path) -> None:
    document = extract(read(postgres_docs, "tutorial-concepts.html"), "", filename="tutorial-concepts.html")
    assert document.title == "2.2. Concepts"
    assert [b.kind for b in document.blocks] == [BlockKind.HEADING] + [BlockKind.PARAGRAPH] * 3
    assert document.blocks[1].text.startswith("PostgreSQL is a relational database management system (RDBMS).")
    assert "Prev" not in document.text
    assert "2.3. Creating a New Table" not in document.text


def test_tables_and_nested_sections(postgres_docs: Path) -> None:
    document = extract(read(postgres_docs, "datatype-numeric.html"), "text/html")
    table = next(b for b in document.blocks if b.kind is BlockKind.TABLE)
    assert table.text.splitlines()[0] == "Name | Storage Size | Description | Range"
    assert "smallint | 2 bytes | small-range integer | -32768 to +32767" in table.text.splitlines()
    serial = next(b for b in document.blocks if b.kind is BlockKind.HEADING and b.text == "8.1.4. Serial Types")
    assert serial.title_path == ("8.1. Numeric Types", "8.1.4. Serial Types")
    # "Note" boxes label themselves with a heading; it must not end the section the note sits in.
    note = next(b for b in document.blocks if b.text.startswith("The maximum precision that can be explicitly"))
    assert note.title_path == ("8.1. Numeric Types", "8.1.2. Arbitrary Precision Numbers")
    assert all(b.text != "Note" for b in document.blocks if b.kind is BlockKind.HEADING)


def test_chunks_of_manual_pages_respect_budget_and_offsets(postgres_docs: Path, counter: WordPieceCounter) -> None:
    pages = sorted(postgres_docs.glob("*.html"))[::40]
    assert len(pages) > 20
    options = ChunkingOptions(max_tokens=256, overlap_tokens=32)
    for page in pages:
        document = extract(page.read_bytes(), "text/html", filename=page.name)
        chunks = chunk_document(document, counter, options)
        assert chunks, page.name
        real_counts = counter.count([chunk.text for chunk in chunks])
        for chunk, real in zip(chunks, real_counts, strict=True):
            assert document.text[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.token_count == real <= 256, (page.name, chunk.index)
            assert chunk.page == 0
        assert chunks == chunk_document(document, counter, options)
