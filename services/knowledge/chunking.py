"""Structure-aware chunking: sections at headings, then paragraphs, then sentences, packed to a token budget.

A chunk never crosses a heading, so its title path is exact; it ends at a paragraph boundary when the next
paragraph would not fit and the chunk is already half full; it is cut inside a sentence only when that one
sentence is longer than the budget (at a word start where possible). Neighbouring chunks of a section share up to
`overlap_tokens` tokens: whole trailing sentences when they fit, else the tail of the last one. Every chunk's text
is exactly `document.text[char_start:char_end]`. Pure and deterministic: the same input gives the same chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.knowledge.document import Block, BlockKind, ExtractedDocument
from services.knowledge.sentences import sentence_spans
from services.knowledge.tokens import TokenCounter


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """How large chunks are and how much neighbours share."""

    max_tokens: int = 256
    """Most tokens in a chunk, counted without the model's special tokens."""
    overlap_tokens: int = 32
    """Most tokens a chunk repeats from the end of the previous chunk of its section; less than half of max."""
    language: str = "en"
    """ISO 639 code the sentence splitter uses for abbreviations and punctuation."""

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, not {self.max_tokens}")
        if not 0 <= self.overlap_tokens * 2 < self.max_tokens:
            raise ValueError(f"overlap_tokens must be from 0 to less than half of {self.max_tokens}")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document to embed and index, with where it comes from."""

    index: int
    """Position among the document's chunks, from 0."""
    text: str
    """The chunk's text: `document.text[char_start:char_end]`."""
    token_count: int
    """Tokens of `text` as the embedding model's tokenizer counts them."""
    title_path: tuple[str, ...]
    """Headings above the chunk, outermost first."""
    page: int
    """1-based page where the chunk starts in a paged document; 0 when not paged."""
    char_start: int
    """Offset of the chunk's first character in the document's text."""
    char_end: int
    """Offset just past the chunk's last character in the document's text."""
    content_sha256: str
    """Lowercase hex SHA-256 of the text with whitespace runs collapsed; equal texts dedupe."""


@dataclass(frozen=True, slots=True)
class _Piece:
    """The smallest unit packed into chunks: a sentence, a line, or a slice of an over-long one."""

    start: int
    end: int
    tokens: int
    page: int
    block: int
    """Index of the block the piece comes from; a change of block is a paragraph boundary."""
    cut_in_word: bool = False
    """The piece ends inside a word (one word longer than the budget); the next chunk repeats none of it."""


def content_hash(text: str) -> str:
    """SHA-256 of `text` with whitespace normalised, for deduplication."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def dedupe(chunks: Iterable[Chunk]) -> list[Chunk]:
    """The chunks without those whose content hash an earlier chunk already has."""
    seen: set[str] = set()
    unique = []
    for chunk in chunks:
        if chunk.content_sha256 not in seen:
            seen.add(chunk.content_sha256)
            unique.append(chunk)
    return unique


def chunk_document(
    document: ExtractedDocument, counter: TokenCounter, options: ChunkingOptions | None = None
) -> list[Chunk]:
    """Splits a document into chunks of at most `options.max_tokens` tokens."""
    options = options or ChunkingOptions()
    packer = _Packer(document.text, counter, options)
    chunks: list[Chunk] = []
    for path, blocks in _sections(document.blocks):
        pieces = _pieces(document.text, blocks, counter, options)
        for start, end, page, tokens in packer.pack(pieces):
            text = document.text[start:end]
            chunks.append(Chunk(len(chunks), text, tokens, path, page, start, end, content_hash(text)))
    return chunks


def _sections(blocks: Sequence[Block]) -> list[tuple[tuple[str, ...], list[tuple[int, Block]]]]:
    """Blocks grouped at headings; a heading with no content of its own joins the section that follows it."""
    sections: list[tuple[tuple[str, ...], list[tuple[int, Block]]]] = []
    path: tuple[str, ...] = ()
    current: list[tuple[int, Block]] = []
    for index, block in enumerate(blocks):
        if block.kind is BlockKind.HEADING and any(b.kind is not BlockKind.HEADING for _, b in current):
            sections.append((path, current))
            current = []
        if block.kind is BlockKind.HEADING:
            path = block.title_path
        current.append((index, block))
    if any(b.kind is not BlockKind.HEADING for _, b in current):
        sections.append((path, current))
    return sections


def _pieces(
    text: str, blocks: list[tuple[int, Block]], counter: TokenCounter, options: ChunkingOptions
) -> list[_Piece]:
    """The section's blocks cut into sentences (prose) or lines (lists, tables, code), none over the budget."""
    spans: list[tuple[int, int, int, Block]] = []
    for index, block in blocks:
        if block.kind is BlockKind.PARAGRAPH:
            units = sentence_spans(block.text, options.language)
        elif block.kind is BlockKind.HEADING:
            units = [(0, len(block.text))]
        else:
            units = _line_spans(block.text)
        spans.extend((block.char_start + start, block.char_start + end, index, block) for start, end in units)
    counts = counter.count([text[start:end] for start, end, _, _ in spans])
    pieces: list[_Piece] = []
    for (start, end, index, block), tokens in zip(spans, counts, strict=True):
        if tokens <= options.max_tokens:
            pieces.append(_Piece(start, end, tokens, block.page, index))
            continue
        # Too long: a list item is split into its sentences first; anything still too long by tokens.
        parts = [(start, end)]
        if block.kind is BlockKind.LIST:
            parts = [(start + s, start + e) for s, e in sentence_spans(text[start:end], options.language)]
        for part_start, part_end in parts:
            for s, e, cut in _token_windows(text, part_start, part_end, counter, options.max_tokens):
                pieces.append(_Piece(s, e, counter.count([text[s:e]])[0], block.page, index, cut))
    return pieces


def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank line, without its leading and trailing spaces."""
    spans = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = offset + line.index(stripped[0])
            spans.append((start, start + len(stripped)))
        offset += len(line) + 1
    return spans


def _token_windows(text: str, start: int, end: int, counter: TokenCounter, size: int) -> list[tuple[int, int, bool]]:
    """`text[start:end]` cut into slices of at most `size` tokens at word starts where the words allow;
    the flag says a slice ends inside a word."""
    span = text[start:end]
    offsets = counter.token_spans(span)
    windows = []
    first = 0
    while first < len(offsets):
        last = min(first + size, len(offsets))
        if last < len(offsets):
            last = next((k for k in range(last, first, -1) if _starts_word(span, offsets, k)), last)
        in_word = last < len(offsets) and not _starts_word(span, offsets, last)
        windows.append((start + offsets[first][0], start + offsets[last - 1][1], in_word))
        first = last
    return windows


def _starts_word(text: str, offsets: list[tuple[int, int]], k: int) -> bool:
    """Whether token `k` begins a word rather than continuing the previous token's word."""
    begin = offsets[k][0]
    return offsets[k - 1][1] < begin or not (text[begin - 1].isalnum() and text[begin].isalnum())


class _Packer:
    """Greedy packing of a section's pieces into chunks with overlap."""

    def __init__(self, text: str, counter: TokenCounter, options: ChunkingOptions) -> None:
        self._text = text
        self._counter = counter
        self._max = options.max_tokens
        self._overlap = options.overlap_tokens

    def pack(self, pieces: Sequence[_Piece]) -> list[tuple[int, int, int, int]]:
        """(char_start, char_end, page, tokens) of each chunk of one section."""
        block_tokens: dict[int, int] = {}
        for piece in pieces:
            block_tokens[piece.block] = block_tokens.get(piece.block, 0) + piece.tokens
        chunks: list[tuple[int, int, int, int]] = []
        current: list[_Piece] = []
        fresh = 0  # pieces of `current` that no earlier chunk holds
        for index, piece in enumerate(pieces):
            used = sum(p.tokens for p in current)
            starts_block = index == 0 or pieces[index - 1].block != piece.block
            fits = used + piece.tokens <= self._max
            # Prefer ending at a paragraph boundary: a half-full chunk does not take the start of a block
            # that will not fit whole.
            if fits and starts_block and fresh and used * 2 >= self._max:
                fits = used + block_tokens[piece.block] <= self._max
            if not fits:
                chunks.append(self._span(current))
                current = self._overlap_tail(current, self._max - piece.tokens)
                fresh = 0
            current.append(piece)
            fresh += 1
        if fresh:
            chunks.append(self._span(current))
        return chunks

    def _span(self, pieces: list[_Piece]) -> tuple[int, int, int, int]:
        """Where a chunk made of `pieces` lies, its first page and its tokens.

        The sum of the pieces' counts is the chunk's count: WordPiece tokenizes each whitespace- or
        punctuation-separated word on its own, and pieces meet only at such boundaries. A slice cut inside a
        word is never joined to its continuation: it holds the full budget, and no overlap is taken from it.
        """
        return pieces[0].start, pieces[-1].end, pieces[0].page, sum(p.tokens for p in pieces)

    def _overlap_tail(self, pieces: list[_Piece], room: int) -> list[_Piece]:
        """The end of a finished chunk to repeat at the start of the next: whole pieces if any fit, else a slice."""
        budget = min(self._overlap, room)
        if budget <= 0:
            return []
        tail: list[_Piece] = []
        used = 0
        for piece in reversed(pieces):
            if used + piece.tokens > budget:
                break
            tail.insert(0, piece)
            used += piece.tokens
        if tail:
            return tail
        last = pieces[-1]
        if last.cut_in_word:
            return []
        offsets = self._counter.token_spans(self._text[last.start : last.end])
        first = max(len(offsets) - budget, 1)
        while 0 < first < len(offsets) and not _starts_word(self._text[last.start : last.end], offsets, first):
            first += 1
        if first >= len(offsets):
            return []
        start = last.start + offsets[first][0]
        return [_Piece(start, last.end, self._counter.count([self._text[start : last.end]])[0], last.page, last.block)]
