"""The default provider: answers extractively from the retrieved passages, with no model, key or network."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from services.ai.providers import extractive
from services.ai.providers.base import (
    AnswerContext,
    FinishReason,
    GenerationRequest,
    ProviderEvent,
    TextDelta,
    estimated_usage,
)
from services.ai.similarity import TextEmbedder, unit_rows
from services.ai.token_estimate import estimate_tokens

OFFLINE_ID = "offline"
OFFLINE_MODEL = "extractive"
#: How ListProviders labels this provider.
OFFLINE_LABEL = "offline extractive (no model)"

_GREETING = re.compile(r"^\s*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)\b[\s,!.]*", re.I)
_THANKS_BYE = re.compile(r"^\s*(thanks?( you)?( so much)?|thx|bye|goodbye|see you|cheers)\b[\s,!.]*$", re.I)
_HANDOFF = re.compile(
    r"\b(human|real person|live (agent|person)|(speak|talk|chat) (to|with) (a |an |some)?(person|agent|someone|"
    r"representative|operator|staff))\b",
    re.I,
)
_LEAD_IN = {
    "friendly": "Sure! ",
    "casual": "So, ",
    "enthusiastic": "Great question! ",
    "empathetic": "Happy to help. ",
    "professional": "",
    "concise": "",
}


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    """How the offline provider answers."""

    pace_seconds: float = 0.03
    """Pause between streamed words, so the answer reads (and the avatar talks) like a typed reply."""
    max_sentences: int = 3
    """Most sentences quoted in one answer."""
    min_relevance: float = 0.25
    """Below this share of the question's (idf-weighted) terms a sentence is not an answer."""


class OfflineProvider:
    """Stitches the passages' most relevant sentences into a short cited answer in the bot's voice."""

    def __init__(self, config: OfflineConfig | None = None, *, embedder: TextEmbedder | None = None) -> None:
        self._config = config or OfflineConfig()
        self._embedder = embedder

    @property
    def id(self) -> str:
        """Always "offline"."""
        return OFFLINE_ID

    def __repr__(self) -> str:
        return f"OfflineProvider(pace_seconds={self._config.pace_seconds})"

    async def aclose(self) -> None:
        """Nothing to release."""

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Streams the composed answer word by word, then estimated token counts."""
        text, finish = await self.compose(request.context)
        text, finish = _truncate(text, request.max_output_tokens, finish)
        for i, word in enumerate(re.findall(r"\S+\s*", text)):
            if i and self._config.pace_seconds > 0:
                await asyncio.sleep(self._config.pace_seconds)
            yield TextDelta(word)
        yield estimated_usage(OFFLINE_ID, OFFLINE_MODEL, request, text, finish)

    async def compose(self, context: AnswerContext) -> tuple[str, FinishReason]:
        """The whole answer and why it ends: an extract, a greeting, the handoff text or an honest fallback."""
        question = context.question.strip()
        greeting = _GREETING.match(question)
        rest = question[greeting.end() :] if greeting else question
        name = context.bot_name or "your assistant"
        if _THANKS_BYE.match(question):
            return "You're welcome! Have a great day.", FinishReason.STOP
        if not rest.strip(" ?!.,"):
            hello = context.greeting or f"Hi! I'm {name}. How can I help you today?"
            return hello, FinishReason.STOP
        opener = "Hi! " if greeting else ""
        if _HANDOFF.search(rest) and context.handoff_text:
            return opener + context.handoff_text, FinishReason.HANDOFF
        topic = next((t for t in context.avoided_topics if t and _mentions(rest, t)), None)
        if topic is not None:
            return f"{opener}I'm sorry, but I can't help with {topic}.", FinishReason.CONTENT_FILTER
        chosen = await self._relevant_sentences(rest, context)
        if not chosen:
            return opener + _nothing_to_go_on(context), FinishReason.FALLBACK
        lead = _LEAD_IN.get(context.tone, "") if not opener else ""
        body = " ".join(_cite(s.text, s.passage) for s in chosen)
        return f"{opener}{lead}{body}", FinishReason.STOP

    async def _relevant_sentences(self, question: str, context: AnswerContext) -> list[extractive.ScoredSentence]:
        semantic: list[float] | None = None
        if self._embedder is not None:
            sentences = [s for _, _, s in extractive.sentences_of(context.passages)]
            if sentences:
                vectors = unit_rows(await self._embedder.embed([question, *sentences]))
                semantic = [float(v) for v in vectors[1:] @ vectors[0]]
        ranked = extractive.rank_sentences(question, context.passages, semantic)
        return extractive.select(ranked, min_score=self._config.min_relevance, max_sentences=self._config.max_sentences)


def _nothing_to_go_on(context: AnswerContext) -> str:
    if context.fallback_answer:
        return context.fallback_answer
    if not context.passages:
        return "I'm sorry, I don't have any information to go on for that yet."
    return "I'm sorry, I couldn't find anything about that in what I know."


def _mentions(text: str, topic: str) -> bool:
    return re.search(rf"\b{re.escape(topic)}\b", text, re.I) is not None


def _cite(sentence: str, passage: int) -> str:
    """The sentence with its citation marker before the closing punctuation: 'We open at 9 [1].'."""
    body = sentence.rstrip()
    end = len(body.rstrip(".!?;:"))
    closing = body[end:] or "."
    return f"{body[:end]} [{passage}]{closing}"


def _truncate(text: str, max_tokens: int, finish: FinishReason) -> tuple[str, FinishReason]:
    if max_tokens <= 0 or estimate_tokens(text) <= max_tokens:
        return text, finish
    words = text.split()
    while words and estimate_tokens(" ".join(words)) > max_tokens:
        words.pop()
    return " ".join(words), FinishReason.MAX_TOKENS
