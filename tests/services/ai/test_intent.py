"""Intent classification over built-in and tenant examples, with each real embedder."""

from __future__ import annotations

import pytest

from avatarchat.ai.v1 import ai_pb2
from services.ai.intent import Intent, IntentClassifier, IntentExample, examples_from_proto
from services.ai.similarity import TextEmbedder

SENTENCES = [
    ("Hello there!", Intent.GREETING),
    ("Hi, good morning", Intent.GREETING),
    ("Thanks, bye!", Intent.GOODBYE),
    ("Goodbye and have a nice day", Intent.GOODBYE),
    ("What are the opening hours of your shop?", Intent.QUESTION),
    ("How long does shipping take to Germany?", Intent.QUESTION),
    ("My package arrived broken and I'm furious", Intent.COMPLAINT),
    ("I was charged twice for the same order", Intent.COMPLAINT),
    ("I'd like to buy the premium plan", Intent.PURCHASE),
    ("Can I book an appointment for tomorrow?", Intent.PURCHASE),
    ("I want to talk to a human", Intent.HANDOFF_REQUEST),
    ("Please connect me with a real agent", Intent.HANDOFF_REQUEST),
    ("Are you a robot?", Intent.SMALL_TALK),
    ("Tell me a joke please", Intent.SMALL_TALK),
    ("asdf qwerty zxcv", Intent.OTHER),
]


@pytest.fixture(scope="module")
def classifier(embedder: TextEmbedder) -> IntentClassifier:
    return IntentClassifier(embedder)


@pytest.mark.parametrize(("text", "intent"), SENTENCES)
async def test_example_sentences(classifier: IntentClassifier, text: str, intent: Intent) -> None:
    result = await classifier.classify(text)
    assert result.intent is intent, result.scores
    assert result.scores[0] == (result.intent, result.confidence)
    assert sum(score for _, score in result.scores) == pytest.approx(1.0)
    assert [s for _, s in result.scores] == sorted((s for _, s in result.scores), reverse=True)


async def test_tenant_examples_teach_the_business_phrasing(classifier: IntentClassifier) -> None:
    text = "escalate this to tier two"
    tenant = examples_from_proto(
        [
            ai_pb2.IntentExample(text="escalate to tier two", intent=ai_pb2.INTENT_HANDOFF_REQUEST),
            ai_pb2.IntentExample(text="please escalate this ticket to tier two", intent=ai_pb2.INTENT_HANDOFF_REQUEST),
            ai_pb2.IntentExample(text="", intent=ai_pb2.INTENT_QUESTION),
        ]
    )
    assert len(tenant) == 2
    before = dict((await classifier.classify(text)).scores).get(Intent.HANDOFF_REQUEST, 0.0)
    after = await classifier.classify(text, tenant)
    assert after.intent is Intent.HANDOFF_REQUEST
    assert after.confidence > before


async def test_a_tenants_examples_stay_with_its_call(embedder: TextEmbedder) -> None:
    classifier = IntentClassifier(embedder)
    text = "escalate this to tier two"
    tenant = [IntentExample("escalate to tier two", Intent.HANDOFF_REQUEST)]

    taught = await classifier.classify(text, tenant)
    alone = await classifier.classify(text)
    again = await classifier.classify(text)

    fresh = await IntentClassifier(embedder).classify(text)
    assert taught.scores != alone.scores
    # Approximately: MiniLM's floats depend a little on which texts share the message's batch.
    for same in (again, fresh):
        assert dict(same.scores) == pytest.approx(dict(alone.scores), abs=1e-5)
    assert dict((await classifier.classify(text, tenant)).scores) == pytest.approx(dict(taught.scores), abs=1e-5)


async def test_empty_text_is_other(classifier: IntentClassifier) -> None:
    result = await classifier.classify("   ")
    assert (result.intent, result.confidence) == (Intent.OTHER, 1.0)


def test_proto_round_trip() -> None:
    for intent in Intent:
        assert Intent.from_proto(intent.to_proto()) is intent
    assert Intent.from_proto(ai_pb2.INTENT_UNSPECIFIED) is Intent.OTHER
    assert IntentExample("hi", Intent.GREETING).intent.to_proto() == ai_pb2.INTENT_GREETING
