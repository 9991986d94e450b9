"""Sentence boundaries through sentencex (Wikimedia's rule-based segmenter, ~300 languages, Rust core).

Chosen over nltk's punkt (needs model data downloaded at run time) and pysbd (unmaintained since 2021); it
returns character offsets, which chunk offsets are built from.
"""

from __future__ import annotations

from typing import cast

import sentencex  # type: ignore[import-untyped]  # a compiled module without type information


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, without the whitespace around it; together they cover all its text."""
    boundaries = cast(list[dict[str, object]], sentencex.get_sentence_boundaries(language, text))
    # Only the end offsets are used, as cut points, so the spans cover the text even if a boundary were skipped.
    cuts = sorted({cast(int, b["end_index"]) for b in boundaries if 0 < cast(int, b["end_index"]) < len(text)})
    spans: list[tuple[int, int]] = []
    start = 0
    for end in [*cuts, len(text)]:
        left, right = start, end
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        if left < right:
            spans.append((left, right))
        start = end
    return spans
