"""Intent of a visitor's message: nearest examples in embedding space, built-in ones plus the tenant's."""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from avatarchat.ai.v1 import ai_pb2
from services.ai.intent_examples import BUILTIN
from services.ai.similarity import TextEmbedder, unit_rows

Vector = npt.NDArray[np.float32]


class Intent(enum.StrEnum):
    """What a message wants (ai.v1 Intent without its prefix)."""

    GREETING = "greeting"
    GOODBYE = "goodbye"
    QUESTION = "question"
    COMPLAINT = "complaint"
    PURCHASE = "purchase"
    HANDOFF_REQUEST = "handoff_request"
    SMALL_TALK = "small_talk"
    OTHER = "other"

    def to_proto(self) -> ai_pb2.Intent.ValueType:
        """As an ai.v1 Intent."""
        return ai_pb2.Intent.Value(f"INTENT_{self.name}")

    @classmethod
    def from_proto(cls, value: ai_pb2.Intent.ValueType) -> Intent:
        """From an ai.v1 Intent; UNSPECIFIED reads as OTHER."""
        name = ai_pb2.Intent.Name(value).removeprefix("INTENT_")
        return cls.OTHER if name == "UNSPECIFIED" else cls[name]


@dataclass(frozen=True, slots=True)
class IntentExample:
    """An example message for an intent."""

    text: str
    intent: Intent


@dataclass(frozen=True, slots=True)
class IntentConfig:
    """How similarities become an intent."""

    other_threshold: float = 0.35
    """Similarity a message must reach to any intent's examples; below it the intent is OTHER."""
    temperature: float = 0.05
    """Softmax temperature turning similarities into confidences; lower is more decisive."""
    neighbours: int = 3
    """Nearest examples per intent whose mean similarity blends into the score."""
    cache_size: int = 4096
    """Most example texts whose vectors are kept (tenant examples recur on every message)."""


@dataclass(frozen=True, slots=True)
class IntentResult:
    """The most likely intent and every intent's confidence, most likely first."""

    intent: Intent
    confidence: float
    scores: tuple[tuple[Intent, float], ...]


#: The built-in examples, English.
BUILTIN_EXAMPLES = tuple(IntentExample(text, Intent(name)) for name, texts in BUILTIN.items() for text in texts)


def examples_from_proto(examples: Iterable[ai_pb2.IntentExample]) -> list[IntentExample]:
    """ai.v1 IntentExamples as examples; ones without text or intent are skipped."""
    return [
        IntentExample(e.text, Intent.from_proto(e.intent))
        for e in examples
        if e.text.strip() and e.intent != ai_pb2.INTENT_UNSPECIFIED
    ]


class IntentClassifier:
    """Scores each intent by its nearest examples (max and mean of the k nearest) and softmaxes the scores."""

    def __init__(
        self,
        embedder: TextEmbedder,
        config: IntentConfig | None = None,
        examples: Sequence[IntentExample] = BUILTIN_EXAMPLES,
    ) -> None:
        self._embedder = embedder
        self._config = config or IntentConfig()
        self._examples = tuple(examples)
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        # The built-in examples' matrix and rows per intent: most bots add no examples of their own, and stacking
        # and grouping every example again cost more than the message's own embedding.
        self._builtin: tuple[Vector, dict[Intent, list[int]]] | None = None

    async def classify(self, text: str, extra_examples: Sequence[IntentExample] = ()) -> IntentResult:
        """The intent of a message, using the tenant's examples alongside the built-in ones."""
        if not text.strip():
            return IntentResult(Intent.OTHER, 1.0, ((Intent.OTHER, 1.0),))
        if not extra_examples and self._builtin is not None:
            matrix, by_intent = self._builtin
            message = (await self._embed(text, ()))[text]
        else:
            examples = [*self._examples, *extra_examples]
            vectors = await self._embed(text, [e.text for e in examples])
            matrix, by_intent = np.stack([vectors[e.text] for e in examples]), _rows_by_intent(examples)
            message = vectors[text]
            if not extra_examples:
                self._builtin = (matrix, by_intent)
        # One matrix product for every example, then each intent's similarities in descending order.
        sims = matrix @ message
        k = self._config.neighbours
        raw = {}
        for intent, rows in by_intent.items():
            nearest = np.sort(sims[rows])[::-1][:k]
            raw[intent] = 0.7 * float(nearest[0]) + 0.3 * float(nearest.sum()) / len(nearest)
        raw[Intent.OTHER] = max(raw.get(Intent.OTHER, -1.0), self._config.other_threshold)
        names = list(raw)
        logits = np.array([raw[n] for n in names], dtype=np.float64) / self._config.temperature
        weights = np.exp(logits - logits.max())
        probabilities = weights / weights.sum()
        scores = sorted(zip(names, (float(p) for p in probabilities), strict=True), key=lambda s: -s[1])
        return IntentResult(intent=scores[0][0], confidence=scores[0][1], scores=tuple(scores))

    async def _embed(self, message: str, examples: Sequence[str]) -> dict[str, Vector]:
        """Vectors of the message and the examples; only examples are kept, as they recur and messages rarely do.

        No lock is held while the embedder runs, so concurrent messages can share its batches.
        """
        found: dict[str, Vector] = {}
        for t in (message, *examples):
            vector = self._vectors.get(t)
            if vector is not None:
                self._vectors.move_to_end(t)
                found[t] = vector
        missing = [t for t in dict.fromkeys((message, *examples)) if t not in found]
        if missing:
            fresh = dict(zip(missing, unit_rows(await self._embedder.embed(missing)), strict=True))
            found.update(fresh)
            kept = set(examples)
            for t, vector in fresh.items():
                if t in kept:
                    self._vectors[t] = vector
            while len(self._vectors) > max(self._config.cache_size, len(examples)):
                self._vectors.popitem(last=False)
        return found


def _rows_by_intent(examples: Sequence[IntentExample]) -> dict[Intent, list[int]]:
    rows: dict[Intent, list[int]] = {}
    for i, example in enumerate(examples):
        rows.setdefault(example.intent, []).append(i)
    return rows
