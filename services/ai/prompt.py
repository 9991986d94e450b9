"""Builds a provider request from the bot's personality, the numbered knowledge passages and a history window."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from services.ai.passages import Passage
from services.ai.providers.base import AnswerContext, ChatMessage, GenerationRequest
from services.ai.token_estimate import estimate_tokens

#: Answer length when the personality sets none, and the most it may set (chatbot.v1 Personality).
DEFAULT_MAX_ANSWER_TOKENS = 512
MAX_ANSWER_TOKENS = 4096

_TONES = {
    chatbot_pb2.TONE_FRIENDLY: ("friendly", "Be warm and approachable."),
    chatbot_pb2.TONE_PROFESSIONAL: ("professional", "Be polite, precise and businesslike."),
    chatbot_pb2.TONE_CASUAL: ("casual", "Be relaxed and informal."),
    chatbot_pb2.TONE_ENTHUSIASTIC: ("enthusiastic", "Be energetic and upbeat."),
    chatbot_pb2.TONE_EMPATHETIC: ("empathetic", "Be understanding and supportive."),
    chatbot_pb2.TONE_CONCISE: ("concise", "Be as brief as possible."),
    chatbot_pb2.TONE_CUSTOM: ("custom", ""),
}


@dataclass(frozen=True, slots=True)
class PromptLimits:
    """How much history and knowledge a prompt may carry."""

    max_history_turns: int = 20
    """Most earlier turns sent (the API accepts 20)."""
    max_history_tokens: int = 1500
    """Approximate token budget for earlier turns; the newest are kept."""
    max_passage_tokens: int = 3000
    """Approximate token budget for knowledge passages; the best ranked are kept."""


def turns_from_proto(turns: Iterable[ai_pb2.Turn]) -> list[ChatMessage]:
    """ai.v1 Turns as chat messages; turns without a role or text are skipped."""
    roles = {ai_pb2.TURN_ROLE_VISITOR: "user", ai_pb2.TURN_ROLE_ASSISTANT: "assistant"}
    messages: list[ChatMessage] = []
    for turn in turns:
        role = roles.get(turn.role)
        if role == "user" and turn.text.strip():
            messages.append(ChatMessage("user", turn.text))
        elif role == "assistant" and turn.text.strip():
            messages.append(ChatMessage("assistant", turn.text))
    return messages


def history_window(history: Sequence[ChatMessage], limits: PromptLimits) -> list[ChatMessage]:
    """The newest turns within the turn and token budgets, starting with a visitor turn, roles alternating."""
    kept: list[ChatMessage] = []
    budget = limits.max_history_tokens
    for message in reversed(history[-limits.max_history_turns :] if limits.max_history_turns > 0 else []):
        cost = estimate_tokens(message.content)
        if cost > budget:
            break
        budget -= cost
        kept.append(message)
    kept.reverse()
    # Anthropic and Gemini want the conversation to open with the user and to alternate.
    while kept and kept[0].role != "user":
        kept.pop(0)
    merged: list[ChatMessage] = []
    for message in kept:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, f"{merged[-1].content}\n\n{message.content}")
        else:
            merged.append(message)
    # The visitor's new message follows; a trailing visitor turn would make two in a row.
    if merged and merged[-1].role == "user":
        merged.pop()
    return merged


def passages_within(passages: Sequence[Passage], max_tokens: int) -> tuple[Passage, ...]:
    """The leading passages that fit the budget; stopping at the first misfit keeps the numbers contiguous."""
    kept: list[Passage] = []
    for passage in passages:
        max_tokens -= estimate_tokens(passage.text) + 20
        if max_tokens < 0:
            break
        kept.append(passage)
    return tuple(kept)


def build_request(
    personality: chatbot_pb2.Personality,
    question: str,
    passages: Sequence[Passage] = (),
    history: Sequence[ChatMessage] = (),
    *,
    bot_name: str = "",
    language: str = "",
    limits: PromptLimits | None = None,
) -> GenerationRequest:
    """The request every provider answers: system instructions with numbered passages, history and the question.

    `bot_name` and `language` are the chatbot's display name and the tenant's default language, used when the
    personality leaves its own empty.
    """
    limits = limits or PromptLimits()
    used = passages_within(passages, limits.max_passage_tokens)
    tone, _ = _TONES.get(personality.tone, _TONES[chatbot_pb2.TONE_FRIENDLY])
    max_tokens = min(personality.max_answer_tokens or DEFAULT_MAX_ANSWER_TOKENS, MAX_ANSWER_TOKENS)
    context = AnswerContext(
        question=question,
        passages=used,
        bot_name=personality.display_name or bot_name,
        tone=tone,
        greeting=personality.greeting,
        fallback_answer=personality.fallback_answer,
        handoff_text=personality.handoff_text,
        avoided_topics=tuple(t.strip() for t in personality.avoided_topics if t.strip()),
        language=personality.language or language,
    )
    messages = (*history_window(history, limits), ChatMessage("user", question))
    return GenerationRequest(
        system=system_prompt(personality, context, max_tokens),
        messages=messages,
        context=context,
        max_output_tokens=max_tokens,
    )


def system_prompt(personality: chatbot_pb2.Personality, context: AnswerContext, max_tokens: int) -> str:
    """System instructions: the tenant's role text, then voice, limits, and the grounding rules with passages."""
    name = context.bot_name or "the assistant"
    sections = [personality.instructions.strip() or f"You are {name}, the assistant on this company's website."]
    if context.bot_name:
        sections.append(f"Your name is {context.bot_name}.")
    _, tone_text = _TONES.get(personality.tone, _TONES[chatbot_pb2.TONE_FRIENDLY])
    style = " ".join(s for s in (tone_text, personality.tone_description.strip()) if s)
    if style:
        sections.append(f"Tone: {style}")
    if context.language:
        sections.append(f"Always answer in the language with BCP-47 tag '{context.language}'.")
    sections.append(f"Keep every answer under about {max(int(max_tokens * 0.75), 1)} words.")
    if context.avoided_topics:
        topics = "; ".join(context.avoided_topics)
        sections.append(f"Do not discuss these topics: {topics}. If asked, politely decline and offer other help.")
    if context.handoff_text:
        sections.append(f"If the visitor asks for a human, answer with exactly this text: {context.handoff_text}")
    unknown = (
        f'reply with exactly this text: "{context.fallback_answer}"'
        if context.fallback_answer
        else "say honestly that you do not know"
    )
    sections.append(
        "Answer only from the numbered knowledge passages below and never invent facts, prices or links. "
        "Cite each fact with the number of its passage in square brackets, like [1] or [2][3]. "
        f"If the passages do not answer the question, {unknown}."
    )
    sections.append("Knowledge passages:\n\n" + _render_passages(context.passages))
    return "\n\n".join(sections)


def _render_passages(passages: Sequence[Passage]) -> str:
    if not passages:
        return "(none were found for this question)"
    blocks = []
    for p in passages:
        source = " — ".join(s for s in (p.title, p.url) if s)
        blocks.append(f"[{p.index}] {source}\n{p.text}" if source else f"[{p.index}]\n{p.text}")
    return "\n\n".join(blocks)
