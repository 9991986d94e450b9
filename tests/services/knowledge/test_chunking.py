"""Structure-aware chunking: budgets, overlap, sentence boundaries, offsets, title paths, pages, determinism, dedup."""

from __future__ import annotations

import itertools

import pytest

from services.knowledge.chunking import Chunk, ChunkingOptions, chunk_document, content_hash, dedupe
from services.knowledge.document import ExtractedDocument
from services.knowledge.extract import extract
from services.knowledge.sentences import sentence_spans
from services.knowledge.tokens import WordPieceCounter
from tests.services.knowledge.sample_documents import HANDBOOK_MARKDOWN, handwritten_pdf, text_stream

SMALL = ChunkingOptions(max_tokens=64, overlap_tokens=16)


def sentences(n: int, topic: str = "billing") -> str:
    """`n` distinct short sentences (about ten tokens each)."""
    return " ".join(f"Sentence number {i} explains one more detail about {topic} rules." for i in range(n))


def markdown(text: str) -> ExtractedDocument:
    """A Markdown document extracted from `text`."""
    return extract(text.encode(), "text/markdown")


def assert_true_offsets(document: ExtractedDocument, chunks: list[Chunk]) -> None:
    """Every chunk is exactly its slice of the full text and hashes to its text."""
    for chunk in chunks:
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.content_sha256 == content_hash(chunk.text)


def test_budget_is_respected_and_counts_are_real(counter: WordPieceCounter) -> None:
    document = markdown(f"# Billing\n\n{sentences(40)}\n\n{sentences(25, 'refund')}\n")
    chunks = chunk_document(document, counter, SMALL)
    assert len(chunks) > 5
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert_true_offsets(document, chunks)
    for chunk, real in zip(chunks, counter.count([c.text for c in chunks]), strict=True):
        assert chunk.token_count == real <= SMALL.max_tokens
    # Greedy packing: chunks are not needlessly small.
    assert sum(c.token_count for c in chunks[:-1]) / (len(chunks) - 1) > SMALL.max_tokens * 0.6


def test_neighbours_overlap_by_whole_sentences_within_the_budget(counter: WordPieceCounter) -> None:
    document = markdown(sentences(30))
    chunks = chunk_document(document, counter, SMALL)
    starts = {s for s, _ in sentence_spans(document.text)}
    ends = {e for _, e in sentence_spans(document.text)}
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start < previous.char_end, "neighbours must share text"
        shared = document.text[current.char_start : previous.char_end]
        assert 0 < counter.count([shared])[0] <= SMALL.overlap_tokens
        assert previous.text.endswith(shared)
        assert current.text.startswith(shared)
    for chunk in chunks:
        assert chunk.char_start in starts
        assert chunk.char_end in ends


def test_no_overlap_when_disabled(counter: WordPieceCounter) -> None:
    document = markdown(sentences(30))
    chunks = chunk_document(document, counter, ChunkingOptions(max_tokens=64, overlap_tokens=0))
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start > previous.char_end


def test_a_sentence_longer_than_the_budget_is_cut_at_words(counter: WordPieceCounter) -> None:
    long_sentence = " ".join(f"word{i}" for i in range(150)) + "."
    document = markdown(f"Short opener.\n\n{long_sentence}\n\nShort closer.")
    chunks = chunk_document(document, counter, SMALL)
    assert_true_offsets(document, chunks)
    assert all(c.token_count <= SMALL.max_tokens for c in chunks)
    covered = "".join(document.text[c.char_start : c.char_end] for c in chunks)
    for i in range(150):
        assert f"word{i}" in covered
    for chunk in chunks:
        assert chunk.char_start == 0 or document.text[chunk.char_start - 1] in " \n"
        assert chunk.char_end == len(document.text) or document.text[chunk.char_end] in " \n."


def test_paragraph_boundaries_are_preferred(counter: WordPieceCounter) -> None:
    first = sentences(3, "alpha")  # about 33 tokens
    second = sentences(3, "beta")
    document = markdown(f"{first}\n\n{second}")
    chunks = chunk_document(document, counter, ChunkingOptions(max_tokens=48, overlap_tokens=0))
    assert [c.text for c in chunks] == [first, second]


def test_chunks_never_cross_headings_and_carry_title_paths(counter: WordPieceCounter) -> None:
    text = (
        "# Pricing\n\nOur prices are simple.\n\n"
        "## Enterprise\n\n" + sentences(12, "enterprise") + "\n\n"
        "## Team\n\nTeams pay monthly.\n\n"
        "# Support\n\n## Hours\n\nWe answer on weekdays.\n"
    )
    document = markdown(text)
    chunks = chunk_document(document, counter, SMALL)
    assert_true_offsets(document, chunks)
    paths = [c.title_path for c in chunks]
    assert paths[0] == ("Pricing",)
    assert ("Pricing", "Enterprise") in paths
    assert paths.count(("Pricing", "Enterprise")) >= 2
    team = next(c for c in chunks if "Teams pay monthly." in c.text)
    assert team.title_path == ("Pricing", "Team")
    assert team.text == "Team\n\nTeams pay monthly."
    # A heading without content of its own ("Support") joins the next section's chunk.
    hours = chunks[-1]
    assert hours.title_path == ("Support", "Hours")
    assert hours.text == "Support\n\nHours\n\nWe answer on weekdays."
    for chunk in chunks:
        assert chunk.text.count("Enterprise") <= 1 or chunk.title_path == ("Pricing", "Enterprise")


def test_structured_blocks_split_at_lines(counter: WordPieceCounter) -> None:
    rows = "\n".join(f"| plan {i} | {i * 10} dollars per seat and month |" for i in range(40))
    document = markdown(f"# Plans\n\n| Plan | Price |\n|---|---|\n{rows}\n")
    chunks = chunk_document(document, counter, SMALL)
    assert len(chunks) > 3
    for chunk in chunks[1:]:
        assert chunk.text.startswith("plan ")
        assert chunk.text.endswith("per seat and month")


def test_pdf_chunks_keep_their_first_page(counter: WordPieceCounter) -> None:
    pages = [text_stream(*(f"Page {n} line {i} describes the warehouse layout." for i in range(8))) for n in (1, 2)]
    document = extract(handwritten_pdf(pages), "application/pdf")
    chunks = chunk_document(document, counter, SMALL)
    assert {c.page for c in chunks} == {1, 2}
    for chunk in chunks:
        assert chunk.text.startswith(f"Page {chunk.page} ")


def test_handbook_chunks(counter: WordPieceCounter) -> None:
    document = markdown(HANDBOOK_MARKDOWN)
    chunks = chunk_document(document, counter)
    assert_true_offsets(document, chunks)
    assert [c.title_path for c in chunks] == [("Welcome",), ("Welcome", "Holidays"), ("Welcome", "Tools")]
    assert chunks[1].text.startswith("Holidays\n\nEveryone gets 30 days")


def test_deterministic(counter: WordPieceCounter) -> None:
    document = markdown(HANDBOOK_MARKDOWN + "\n" + sentences(50))
    assert chunk_document(document, counter, SMALL) == chunk_document(document, counter, SMALL)


def test_duplicate_content_hashes_equal_and_dedupes(counter: WordPieceCounter) -> None:
    faq = "Reset your password from the login page. The link expires after one hour."
    document = markdown(f"# Web\n\n{faq}\n\n# Mobile\n\n{faq}\n\n# Desktop\n\nSomething else entirely.")
    chunks = chunk_document(document, counter)
    bodies = [c for c in chunks if faq in c.text]
    assert len(bodies) == 2
    assert bodies[0].content_sha256 != bodies[1].content_sha256  # different headings in the text

    middle = "Unrelated middle paragraph about billing cycles, invoices and the tax rules that apply."
    plain = extract(f"{faq}\n\n{middle}\n\n{faq}".encode(), "text/plain")
    repeated = chunk_document(plain, counter, ChunkingOptions(max_tokens=24, overlap_tokens=0))
    assert [c.text for c in repeated] == [faq, middle, faq]
    assert repeated[0].content_sha256 == repeated[2].content_sha256
    unique = dedupe(repeated)
    assert [c.index for c in unique] == [0, 1]


def test_content_hash_ignores_whitespace_differences() -> None:
    assert content_hash("Hello   world\n\n again ") == content_hash("Hello world again")
    assert content_hash("Hello world") != content_hash("hello world")


@pytest.mark.parametrize(("size", "overlap"), [(4, 0), (64, 32), (64, -1), (100, 60)])
def test_invalid_options(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        ChunkingOptions(max_tokens=size, overlap_tokens=overlap)


def test_empty_section_list_gives_no_chunks(counter: WordPieceCounter) -> None:
    document = markdown("# Only a heading\n")
    assert chunk_document(document, counter) == []


def test_a_word_longer_than_the_budget_is_cut_by_tokens(counter: WordPieceCounter) -> None:
    blob = "".join(f"x{i:04d}q" for i in range(300))  # one "word" of several hundred word pieces
    document = markdown(f"Key follows. {blob} Key ends here.")
    chunks = chunk_document(document, counter, SMALL)
    assert_true_offsets(document, chunks)
    for chunk, real in zip(chunks, counter.count([c.text for c in chunks]), strict=True):
        assert chunk.token_count == real <= SMALL.max_tokens
    assert "".join(c.text for c in chunks if "x" in c.text).count("x0299q") == 1
