"""The offline extractive provider: grounded, cited, honest, greeting-aware, streamed at a pace."""

from __future__ import annotations

import time

from services.ai.citations import citations_in
from services.ai.passages import Passage
from services.ai.providers.base import AnswerContext, FinishReason, GenerationRequest, TextDelta, UsageReport
from services.ai.providers.offline import OFFLINE_ID, OfflineConfig, OfflineProvider
from services.ai.similarity import TextEmbedder
from tests.services.ai.conftest import make_request

PASSAGES = (
    Passage(
        1,
        "Opening hours\nOur store is open Monday to Friday from 9am to 6pm. On Saturdays we open at 10am. "
        "We are closed on Sundays and public holidays.",
        title="Store hours",
    ),
    Passage(
        2,
        "Returns: You can return any unused item within 30 days of delivery. Refunds go to the original payment "
        "method within 5 business days.",
        title="Returns policy",
    ),
    Passage(3, "Shipping is free for orders over 50 euros. Standard delivery takes 2 to 4 business days."),
)


def offline(**config: float) -> OfflineProvider:
    return OfflineProvider(OfflineConfig(pace_seconds=config.get("pace_seconds", 0.0)))


async def answer(provider: OfflineProvider, request: GenerationRequest) -> tuple[str, UsageReport]:
    events = [e async for e in provider.stream(request)]
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), usage


async def test_answers_from_the_relevant_passage_with_a_citation() -> None:
    text, usage = await answer(offline(), make_request("How long do I have to return an item?", PASSAGES))
    assert "30 days" in text
    assert "[2]" in text
    assert [ref.passage.index for ref in citations_in(text, PASSAGES)] == [2]
    assert usage.finish_reason is FinishReason.STOP
    assert (usage.provider, usage.model) == (OFFLINE_ID, "extractive")
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0


async def test_cites_each_passage_it_quotes() -> None:
    text, _ = await answer(offline(), make_request("When are you open on Saturdays, and is shipping free?", PASSAGES))
    assert "10am" in text
    assert "free" in text
    assert {ref.passage.index for ref in citations_in(text, PASSAGES)} == {1, 3}


async def test_says_honestly_that_it_has_nothing_when_passages_are_irrelevant() -> None:
    text, usage = await answer(offline(), make_request("Do you sell mountain bikes?", PASSAGES))
    assert "couldn't find anything" in text
    assert "[" not in text
    assert usage.finish_reason is FinishReason.FALLBACK


async def test_says_so_when_there_is_no_knowledge_at_all() -> None:
    text, usage = await answer(offline(), make_request("What is your phone number?", ()))
    assert "don't have any information" in text
    assert usage.finish_reason is FinishReason.FALLBACK


async def test_uses_the_personalitys_fallback_answer() -> None:
    request = make_request("Do you sell mountain bikes?", PASSAGES)
    context = AnswerContext(question=request.context.question, passages=PASSAGES, fallback_answer="Ask us by email!")
    text, usage = await answer(offline(), GenerationRequest(request.system, request.messages, context))
    assert text == "Ask us by email!"
    assert usage.finish_reason is FinishReason.FALLBACK


async def test_greets_back_in_the_bots_name_and_answers_a_greeting_with_a_question() -> None:
    provider = offline()
    hello, _ = await answer(provider, make_request("Hello!", PASSAGES))
    assert hello == "Hi! I'm Ava. How can I help you today?"
    both, _ = await answer(provider, make_request("Hi there, when do you open on Saturdays?", PASSAGES))
    assert both.startswith("Hi! ")
    assert "10am [1]" in both


async def test_hands_off_and_declines_avoided_topics() -> None:
    provider = offline()
    context = AnswerContext(
        question="Can I talk to a human?", handoff_text="Call us on 555-0100.", avoided_topics=("politics",)
    )
    text, usage = await answer(provider, GenerationRequest("s", (), context))
    assert (text, usage.finish_reason) == ("Call us on 555-0100.", FinishReason.HANDOFF)
    context = AnswerContext(question="What do you think about politics?", avoided_topics=("politics",))
    text, usage = await answer(provider, GenerationRequest("s", (), context))
    assert "can't help with politics" in text
    assert usage.finish_reason is FinishReason.CONTENT_FILTER


async def test_streams_word_by_word_at_the_configured_pace() -> None:
    started = time.monotonic()
    events = [e async for e in offline(pace_seconds=0.02).stream(make_request("How do refunds work?", PASSAGES))]
    elapsed = time.monotonic() - started
    words = [e for e in events if isinstance(e, TextDelta)]
    assert len(words) > 5
    assert all(len(w.text.split()) == 1 for w in words)
    assert elapsed >= 0.02 * (len(words) - 1) * 0.9


async def test_cuts_the_answer_at_the_token_limit() -> None:
    request = make_request("When are you open on Saturdays, and is shipping free?", PASSAGES)
    short = GenerationRequest(request.system, request.messages, request.context, max_output_tokens=6)
    text, usage = await answer(offline(), short)
    assert usage.finish_reason is FinishReason.MAX_TOKENS
    assert usage.output_tokens <= 6
    assert len(text.split()) < 6


async def test_a_sentence_embedder_lets_it_match_meaning(minilm: TextEmbedder) -> None:
    question = "How soon will my package arrive?"  # not one word in common with the delivery sentence
    text, usage = await answer(offline(), make_request(question, PASSAGES))
    assert usage.finish_reason is FinishReason.FALLBACK, f"matched by words alone: {text}"
    provider = OfflineProvider(OfflineConfig(pace_seconds=0), embedder=minilm)
    text, usage = await answer(provider, make_request(question, PASSAGES))
    assert "2 to 4 business days [3]" in text
    assert usage.finish_reason is FinishReason.STOP


async def test_an_faq_question_in_the_passage_is_not_taken_for_its_answer() -> None:
    faq = (
        Passage(
            1,
            "Can I use my own avatar? Yes: upload a .glb model; it is validated and optimised, "
            "and its animation clips are mapped to behaviours.",
            title="avatarchat FAQ",
        ),
    )
    text, _ = await answer(offline(), make_request("Can I use my own avatar?", faq))
    assert "upload a .glb model" in text
    assert "Can I use my own avatar" not in text
