"""Citation markers map back to passages, even when a marker is split across deltas."""

from __future__ import annotations

from services.ai.citations import CitationTracker, citation_proto, citations_in
from services.ai.passages import Passage

PASSAGES = [
    Passage(1, "We open at 9am.", chunk_id="c1", document="tenants/t/knowledgeBases/k/documents/d", title="FAQ"),
    Passage(2, "x" * 400, chunk_id="c2", url="https://acme.example/returns", score=0.5),
    Passage(3, "Shipping is free.", chunk_id="c3"),
]


def test_a_marker_split_across_deltas_still_resolves() -> None:
    tracker = CitationTracker(PASSAGES)
    deltas = ["We open at 9 [", "1", "] and ship free [", "3", "]. See [2, ", "1]."]
    found = [tracker.feed(d) for d in deltas]
    assert found[0] == found[1] == []
    assert [r.passage.index for r in found[2]] == [1]
    assert [r.passage.index for r in found[4]] == [3]
    assert [r.passage.index for r in found[5]] == [2]
    text = "".join(deltas)
    assert [(r.passage.index, r.text_offset) for r in tracker.cited] == [
        (1, text.index("[1]")),
        (3, text.index("[3]")),
        (2, text.index("[2, 1]")),
    ]


def test_every_split_of_the_text_gives_the_same_citations() -> None:
    text = "Open at 9 [1]. Free shipping [3][1]. Unknown [7] and not a marker [x]."
    whole = citations_in(text, PASSAGES)
    assert [r.passage.index for r in whole] == [1, 3]
    for size in range(1, 8):
        tracker = CitationTracker(PASSAGES)
        for start in range(0, len(text), size):
            tracker.feed(text[start : start + size])
        assert tracker.cited == whole


def test_the_proto_citation_has_a_bounded_snippet() -> None:
    refs = citations_in("[1] [2]", PASSAGES)
    first, second = (citation_proto(r) for r in refs)
    assert (first.index, first.chunk_id, first.title, first.snippet) == (1, "c1", "FAQ", "We open at 9am.")
    assert first.document == "tenants/t/knowledgeBases/k/documents/d"
    assert len(second.snippet) == 300
    assert second.snippet.endswith("…")
    assert second.url == "https://acme.example/returns"
