"""Picks the sentences of retrieved passages that answer a question, by lexical (and optionally semantic) match."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import snowballstemmer  # type: ignore[import-untyped]

from services.ai.passages import Passage

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# A sentence ends at . ! ? followed by space and a capital/digit/quote, or at a line break or bullet.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[A-Z0-9])|\s*\n+\s*(?:[-*•]\s+)?")
_LABEL = re.compile(r"^[A-Z][\w ]{0,30}:\s+(?=[A-Z])")
_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers him
    his how i if in into is it its itself just let me more most my no nor not now of off on once only or other
    our ours out over own please same she should so some such than that the their them then there these they
    this those through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself tell know want need get hi hello hey thanks thank
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence of a passage with its relevance to the question."""

    text: str
    passage: int
    """The 1-based passage number it came from."""
    position: int
    """Its place within the passage."""
    score: float
    """Relevance, 0-1."""


def terms(text: str) -> list[str]:
    """Content words, lower-cased and stemmed (Snowball, English), without stopwords."""
    stems: list[str] = _stemmer().stemWords(
        [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1]
    )
    return stems


@functools.cache
def _stemmer() -> Any:
    # One per process: stemmers are pure and keep a cache of stemmed words.
    return snowballstemmer.stemmer("english")


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage; headings, label prefixes ("Returns: …") and fragments under three words go."""
    parts = (_LABEL.sub("", p.strip(" \t-*•")) for p in _SENTENCE_END.split(text))
    return [p for p in parts if len(p.split()) >= 3]


def rank_sentences(
    question: str, passages: Sequence[Passage], semantic: Sequence[float] | None = None
) -> list[ScoredSentence]:
    """Every sentence scored by the idf-weighted share of the question's terms it contains, best first.

    With `semantic` (cosines of the question to each sentence, in the order of `sentences_of`) the score
    blends in meaning, so a paraphrase without shared words still counts.
    """
    sentences = _answering_sentences(passages)
    if not sentences:
        return []
    sentence_terms = [set(terms(f"{asked} {text}")) for _, _, text, asked in sentences]
    document_frequency = Counter(t for ts in sentence_terms for t in ts)
    n = len(sentences)

    def idf(term: str) -> float:
        # Terms the passages never use weigh most: a question about them is not answered here.
        return math.log((n + 1) / (document_frequency.get(term, 0) + 0.5)) + 1.0

    question_terms = set(terms(question))
    total = sum(idf(t) for t in question_terms)
    ranked: list[ScoredSentence] = []
    for i, ((passage, position, text, _), present) in enumerate(zip(sentences, sentence_terms, strict=True)):
        lexical = sum(idf(t) for t in question_terms & present) / total if total else 0.0
        score = lexical if semantic is None else max(lexical, 0.4 * lexical + 0.6 * max(semantic[i], 0.0))
        ranked.append(ScoredSentence(text=text, passage=passage, position=position, score=score))
    ranked.sort(key=lambda s: (-s.score, s.passage, s.position))
    return ranked


def sentences_of(passages: Sequence[Passage]) -> list[tuple[int, int, str]]:
    """(passage number, position, sentence) for every answering sentence of the passages, in order."""
    return [(passage, position, text) for passage, position, text, _ in _answering_sentences(passages)]


def _answering_sentences(passages: Sequence[Passage]) -> list[tuple[int, int, str, str]]:
    """Sentences with the question that precedes them in their passage ("" when none); questions left out.

    A question in a passage (an FAQ heading, say) repeats what was asked instead of answering it, yet it
    matches the visitor's words best, so it would crowd out its own answer: the question is dropped and its
    words are credited to the sentence that answers it.
    """
    found: list[tuple[int, int, str, str]] = []
    for p in passages:
        asked = ""
        for i, text in enumerate(split_sentences(p.text)):
            if text.rstrip().endswith("?"):
                asked = text
                continue
            found.append((p.index, i, text, asked))
            asked = ""
    return found


def select(ranked: Sequence[ScoredSentence], *, min_score: float, max_sentences: int) -> list[ScoredSentence]:
    """The best sentences above the bar and near the best one, without repeats."""
    if not ranked or ranked[0].score < min_score:
        return []
    bar = max(min_score, ranked[0].score * 0.5)
    chosen: list[ScoredSentence] = []
    seen: set[frozenset[str]] = set()
    for sentence in ranked:
        if sentence.score < bar or len(chosen) >= max_sentences:
            break
        key = frozenset(terms(sentence.text))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(sentence)
    return chosen
