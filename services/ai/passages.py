"""Knowledge passages an answer is grounded in, numbered as the answer cites them ([1], [2], …)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from avatarchat.knowledge.v1 import knowledge_pb2


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk, with the number the prompt gives it."""

    index: int
    """1-based number the answer cites it by."""
    text: str
    """The chunk's text."""
    chunk_id: str = ""
    """Stable id of the chunk."""
    document: str = ""
    """The document's resource name."""
    title: str = ""
    """The document's title, with the headings above the chunk."""
    url: str = ""
    """The web page of the chunk, for URL imports."""
    score: float = 0.0
    """The search score."""


def passages_from_results(results: Iterable[knowledge_pb2.SearchResult]) -> tuple[Passage, ...]:
    """Numbers search results (best first) as passages [1], [2], …; empty chunks are skipped."""
    passages: list[Passage] = []
    for result in results:
        if not result.text.strip():
            continue
        source = result.source
        # A Markdown document's top heading usually repeats its title; "FAQ › FAQ › Hours" helps no one.
        path = list(source.title_path)
        if path and path[0].strip().casefold() == source.title.strip().casefold():
            path = path[1:]
        title = " › ".join([source.title, *path]) if path else source.title
        passages.append(
            Passage(
                index=len(passages) + 1,
                text=result.text.strip(),
                chunk_id=result.chunk_id,
                document=source.document,
                title=title,
                url=source.url,
                score=result.score,
            )
        )
    return tuple(passages)
