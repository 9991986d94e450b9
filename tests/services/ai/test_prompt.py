"""Prompt building: personality, numbered passages with sources, and the bounded history window."""

from __future__ import annotations

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.knowledge.v1 import knowledge_pb2
from services.ai.passages import Passage, passages_from_results
from services.ai.prompt import PromptLimits, build_request, history_window, turns_from_proto
from services.ai.providers.base import ChatMessage

PERSONALITY = chatbot_pb2.Personality(
    display_name="Ava",
    instructions="You are Ava, the helpful assistant of Acme Bikes.",
    tone=chatbot_pb2.TONE_PROFESSIONAL,
    tone_description="Use British spelling.",
    language="de",
    fallback_answer="Please email support@acme.example.",
    max_answer_tokens=200,
    avoided_topics=["politics", "competitor pricing"],
    handoff_text="Call us on 555-0100.",
)


def test_the_system_prompt_carries_the_personality_and_numbered_passages() -> None:
    results = [
        knowledge_pb2.SearchResult(
            chunk_id="c1",
            text="We open at 9am.",
            score=0.9,
            source=knowledge_pb2.Source(
                document="tenants/t/knowledgeBases/k/documents/d1", title="FAQ", title_path=["Hours"]
            ),
        ),
        knowledge_pb2.SearchResult(chunk_id="c2", text="   "),
        knowledge_pb2.SearchResult(
            chunk_id="c3",
            text="Returns within 30 days.",
            source=knowledge_pb2.Source(url="https://acme.example/returns"),
        ),
    ]
    passages = passages_from_results(results)
    assert [(p.index, p.chunk_id) for p in passages] == [(1, "c1"), (2, "c3")]

    request = build_request(PERSONALITY, "When do you open?", passages)
    system = request.system
    assert system.startswith("You are Ava, the helpful assistant of Acme Bikes.")
    assert "Be polite, precise and businesslike. Use British spelling." in system
    assert "'de'" in system
    assert "under about 150 words" in system
    assert "politics; competitor pricing" in system
    assert "Call us on 555-0100." in system
    assert 'reply with exactly this text: "Please email support@acme.example."' in system
    assert "[1] FAQ › Hours\nWe open at 9am." in system
    assert "[2] https://acme.example/returns\nReturns within 30 days." in system
    assert request.max_output_tokens == 200
    assert request.messages == (ChatMessage("user", "When do you open?"),)
    assert request.context.passages == passages
    assert request.context.tone == "professional"
    assert request.context.avoided_topics == ("politics", "competitor pricing")


def test_defaults_apply_when_the_personality_is_empty() -> None:
    request = build_request(chatbot_pb2.Personality(), "Hi", bot_name="Shop bot", language="en")
    assert request.max_output_tokens == 512
    assert "You are Shop bot, the assistant on this company's website." in request.system
    assert "say honestly that you do not know" in request.system
    assert "(none were found for this question)" in request.system
    assert request.context.language == "en"
    assert request.context.tone == "friendly"


def test_history_is_bounded_by_turns_and_by_tokens() -> None:
    history = [ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i} " + "word " * 40) for i in range(30)]
    by_turns = history_window(history, PromptLimits(max_history_turns=4, max_history_tokens=10_000))
    assert [m.content.split()[1] for m in by_turns] == ["26", "27", "28", "29"]
    by_tokens = history_window(history, PromptLimits(max_history_turns=30, max_history_tokens=120))
    assert 0 < len(by_tokens) < 4
    assert by_tokens[0].role == "user"
    assert by_tokens[-1] == history[-1]


def test_history_opens_with_the_visitor_alternates_and_ends_before_the_question() -> None:
    turns = [
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_ASSISTANT, text="Hi! I'm Ava."),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_VISITOR, text="Do you ship?"),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_VISITOR, text="To Germany?"),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_ASSISTANT, text="Yes [1]."),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_UNSPECIFIED, text="ignored"),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_VISITOR, text="Thanks"),
    ]
    request = build_request(PERSONALITY, "How long does it take?", (), turns_from_proto(turns))
    assert request.messages == (
        ChatMessage("user", "Do you ship?\n\nTo Germany?"),
        ChatMessage("assistant", "Yes [1]."),
        ChatMessage("user", "How long does it take?"),
    )


def test_passages_beyond_the_budget_are_left_out_in_rank_order() -> None:
    passages = tuple(Passage(i, "word " * 200) for i in range(1, 6))
    request = build_request(PERSONALITY, "q", passages, limits=PromptLimits(max_passage_tokens=600))
    assert [p.index for p in request.context.passages] == [1, 2]
    assert "\n[3]" not in request.system
