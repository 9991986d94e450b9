"""AnswerRun: the answer's text never waits for the question's analysis, which follows as soon as it is known."""

from __future__ import annotations

import asyncio

from avatarchat.ai.v1 import ai_pb2
from services.ai.animation import AnimationChoice, Behaviour
from services.ai.answer_events import AnswerEvents
from services.ai.answering import AnswerRun, Opening
from services.ai.citations import CitationTracker
from services.ai.providers.base import TextDelta

ANALYSIS = ai_pb2.QuestionAnalysis(intent=ai_pb2.INTENT_GREETING, confidence=0.9)
GREET = Opening(AnimationChoice(Behaviour.GREET, "Wave", Behaviour.GREET, 1.0, True), ANALYSIS)


def _run(opening: asyncio.Future[Opening], *, text_only: bool = False) -> AnswerRun:
    return AnswerRun(AnswerEvents(CitationTracker(()), text_only=text_only), 0.0, opening)


def _kinds(events: list[ai_pb2.StreamResponseResponse]) -> list[str]:
    return [str(e.WhichOneof("event")) for e in events]


async def test_text_goes_out_before_a_slow_analysis_which_then_follows_the_next_text() -> None:
    opening: asyncio.Future[Opening] = asyncio.get_running_loop().create_future()
    run = _run(opening)

    assert _kinds(run.take(TextDelta("Hello ")))[0] == "text_delta"
    assert "question_analysis" not in _kinds(run.take(TextDelta("world, ")))
    opening.set_result(GREET)
    later = run.take(TextDelta("there."))

    assert _kinds(later) == ["text_delta", "question_analysis", "animation_cue"]
    assert later[1].question_analysis == ANALYSIS
    # Sent after the delta, but placed where it starts.
    assert (later[2].animation_cue.clip, later[2].animation_cue.text_offset) == ("Wave", len("Hello world, "))
    assert await run.opened() == [], "the opening goes out once"


async def test_a_ready_analysis_goes_out_right_after_the_first_text() -> None:
    opening: asyncio.Future[Opening] = asyncio.get_running_loop().create_future()
    opening.set_result(GREET)
    run = _run(opening, text_only=True)

    assert _kinds(run.take(TextDelta("Hi"))) == ["text_delta", "question_analysis"]


async def test_an_answer_that_ends_first_waits_for_the_analysis_and_a_failed_one_is_left_out() -> None:
    opening: asyncio.Future[Opening] = asyncio.get_running_loop().create_future()
    run = _run(opening)
    run.take(TextDelta("Hi"))
    asyncio.get_running_loop().call_later(0.01, opening.set_result, GREET)
    assert _kinds(await run.opened()) == ["question_analysis", "animation_cue"]

    broken: asyncio.Future[Opening] = asyncio.get_running_loop().create_future()
    broken.set_exception(RuntimeError("embedder down"))
    failed = _run(broken)
    # A failed analysis sends nothing, neither with the text nor at the end.
    assert _kinds(failed.take(TextDelta("Hi"))) == ["text_delta"]
    assert _kinds(failed.take(TextDelta(" there"))) == ["text_delta"]
    assert await failed.opened() == []
