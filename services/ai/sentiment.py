"""Sentiment of a text from VADER's compound score, with the ai.v1 label thresholds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

from avatarchat.ai.v1 import ai_pb2

#: VADER's own recommended cut-offs, which ai.v1 SentimentLabel documents.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


class SentimentLabel(enum.StrEnum):
    """Coarse polarity (ai.v1 SentimentLabel without its prefix)."""

    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class Sentiment:
    """The analysed mood of a text."""

    score: float
    """Compound score, -1 (most negative) to 1 (most positive)."""
    label: SentimentLabel
    positive: float
    """Share of positive content, 0-1."""
    neutral: float
    """Share of neutral content, 0-1."""
    negative: float
    """Share of negative content, 0-1."""

    def to_proto(self) -> ai_pb2.Sentiment:
        """As an ai.v1 Sentiment."""
        label = ai_pb2.SentimentLabel.Value(f"SENTIMENT_LABEL_{self.label.name}")
        return ai_pb2.Sentiment(
            score=self.score, label=label, positive=self.positive, neutral=self.neutral, negative=self.negative
        )


NEUTRAL = Sentiment(score=0.0, label=SentimentLabel.NEUTRAL, positive=0.0, neutral=1.0, negative=0.0)


def label_for(score: float) -> SentimentLabel:
    """The label of a compound score."""
    if score >= POSITIVE_AT:
        return SentimentLabel.POSITIVE
    if score <= NEGATIVE_AT:
        return SentimentLabel.NEGATIVE
    return SentimentLabel.NEUTRAL


class SentimentAnalyzer:
    """VADER, loaded once (its lexicon takes ~10 ms); analysing is ~0.03 ms, so it runs inline."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def analyze(self, text: str) -> Sentiment:
        """The sentiment of a text; empty text is neutral."""
        if not text.strip():
            return NEUTRAL
        scores = self._vader.polarity_scores(text)
        compound = float(scores["compound"])
        return Sentiment(
            score=compound,
            label=label_for(compound),
            positive=float(scores["pos"]),
            neutral=float(scores["neu"]),
            negative=float(scores["neg"]),
        )
