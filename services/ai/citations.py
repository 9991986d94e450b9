"""Maps [n] markers in a streamed answer back to the passages they cite, across delta boundaries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from avatarchat.ai.v1 import ai_pb2
from services.ai.passages import Passage

#: "[2]" or "[1, 3]"; numbers of at most three digits, as prompts never carry more passages.
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
#: What an unfinished marker at the end of a delta can look like: "[", "[1", "[1,", "[1, 2".
_PARTIAL = re.compile(r"\[(\d{1,3}(\s*,\s*\d{0,3})*)?")
SNIPPET_CHARS = 300


@dataclass(frozen=True, slots=True)
class CitationRef:
    """The first mention of a passage in the answer."""

    passage: Passage
    text_offset: int
    """Character offset of the marker in the whole answer."""


class CitationTracker:
    """Fed the answer's deltas in order, reports each cited passage once, when its first marker completes."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self._by_index = {p.index: p for p in passages}
        self._pending = ""
        self._pending_offset = 0
        self._cited: list[CitationRef] = []

    @property
    def cited(self) -> tuple[CitationRef, ...]:
        """Every passage cited so far, in order of first mention."""
        return tuple(self._cited)

    def feed(self, delta: str) -> list[CitationRef]:
        """The passages first cited by markers that this delta completes; unknown numbers are ignored."""
        text = self._pending + delta
        base = self._pending_offset
        found: list[CitationRef] = []
        seen = {ref.passage.index for ref in self._cited}
        for match in _MARKER.finditer(text):
            for number in match.group(1).split(","):
                passage = self._by_index.get(int(number))
                if passage is not None and passage.index not in seen:
                    seen.add(passage.index)
                    found.append(CitationRef(passage=passage, text_offset=base + match.start()))
        # Hold back a marker that may still be completed by the next delta ("… [" + "2] …").
        cut = len(text)
        start = text.rfind("[")
        if start != -1 and _PARTIAL.fullmatch(text, start):
            cut = start
        self._pending = text[cut:]
        self._pending_offset = base + cut
        self._cited.extend(found)
        return found


def citations_in(text: str, passages: Sequence[Passage]) -> tuple[CitationRef, ...]:
    """The passages a complete answer cites, in order of first mention."""
    tracker = CitationTracker(passages)
    tracker.feed(text)
    return tracker.cited


def citation_proto(ref: CitationRef) -> ai_pb2.Citation:
    """The ai.v1 Citation of a reference, with a snippet of at most 300 characters."""
    p = ref.passage
    snippet = p.text if len(p.text) <= SNIPPET_CHARS else p.text[: SNIPPET_CHARS - 1].rstrip() + "…"
    return ai_pb2.Citation(
        index=p.index,
        document=p.document,
        chunk_id=p.chunk_id,
        title=p.title,
        url=p.url,
        snippet=snippet,
        score=p.score,
    )
