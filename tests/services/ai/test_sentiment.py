"""Sentiment labels from VADER's compound score."""

from __future__ import annotations

import pytest

from avatarchat.ai.v1 import ai_pb2
from services.ai.sentiment import SentimentAnalyzer, SentimentLabel, label_for


@pytest.fixture(scope="module")
def analyzer() -> SentimentAnalyzer:
    return SentimentAnalyzer()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this shop, the service is great!", SentimentLabel.POSITIVE),
        ("Thanks, that was really helpful :)", SentimentLabel.POSITIVE),
        ("My order arrived broken and I am very angry.", SentimentLabel.NEGATIVE),
        ("This is the worst support I have ever had.", SentimentLabel.NEGATIVE),
        ("What time do you open on Monday?", SentimentLabel.NEUTRAL),
        ("", SentimentLabel.NEUTRAL),
    ],
)
def test_labels(analyzer: SentimentAnalyzer, text: str, label: SentimentLabel) -> None:
    sentiment = analyzer.analyze(text)
    assert sentiment.label is label
    assert -1.0 <= sentiment.score <= 1.0
    assert sentiment.positive + sentiment.neutral + sentiment.negative == pytest.approx(1.0, abs=0.01)


def test_thresholds_are_the_documented_ones() -> None:
    assert label_for(0.05) is SentimentLabel.POSITIVE
    assert label_for(0.049) is SentimentLabel.NEUTRAL
    assert label_for(-0.049) is SentimentLabel.NEUTRAL
    assert label_for(-0.05) is SentimentLabel.NEGATIVE


def test_proto(analyzer: SentimentAnalyzer) -> None:
    proto = analyzer.analyze("Great, thank you!").to_proto()
    assert proto.label == ai_pb2.SENTIMENT_LABEL_POSITIVE
    assert proto.score > 0.5
