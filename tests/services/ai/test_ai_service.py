"""AiService over gRPC: providers, answers, analysis, animation, knowledge search, bad input (costs: test_costs)."""

from __future__ import annotations

import uuid

import grpc

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2
from tests.errors_assert import expect_error
from tests.services.ai.wire_formats import openai_stream
from tests.services.conftest import Stack
from tests.services.conversation.helpers import HOURS, create_bot, seed_knowledge, text_of
from tests.services.conversation.platform_env import PLATFORM_KEY, LocalPlatform, _clear_routes, local

__all__ = ["_clear_routes", "local"]
QUESTION = "When does the shop open on Saturdays?"


async def test_list_providers_puts_the_labelled_offline_default_first_and_never_shows_a_key(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("prov")
    response = await local.ai.ListProviders(ai_pb2.ListProvidersRequest(), metadata=account.metadata)
    first = response.providers[0]
    assert (first.id, first.kind, first.offline_default, first.configured) == (
        "offline",
        ai_pb2.PROVIDER_KIND_OFFLINE,
        True,
        True,
    )
    assert "offline" in first.display_name
    by_id = {p.id: p for p in response.providers}
    assert by_id["openai"].configured
    assert not by_id["gemini"].configured
    mini = next(m for m in by_id["openai"].models if m.id == "gpt-4.1-mini")
    assert (mini.input_micros_per_million_tokens, mini.output_micros_per_million_tokens) == (400_000, 1_600_000)
    assert PLATFORM_KEY.encode() not in response.SerializeToString()
    assert b"sk-" not in response.SerializeToString()


async def test_generate_response_returns_the_whole_cited_answer(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("gen")
    kb = seed_knowledge(local.knowledge, account)
    bot = await create_bot(stack, account, knowledge_bases=[kb])

    response = await local.ai.GenerateResponse(
        ai_pb2.GenerateResponseRequest(chatbot=bot.name, message=QUESTION), metadata=account.metadata
    )

    assert "10am" in response.text
    assert [c.index for c in response.citations] == [1]
    assert response.animation_cues
    assert response.viseme_cues
    assert response.usage.provider == "offline"
    assert response.finish_reason == ai_pb2.FINISH_REASON_STOP


async def test_stream_response_text_only_leaves_out_cues_and_ends_with_usage_and_done(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("gen")
    kb = seed_knowledge(local.knowledge, account)
    prefs = [chatbot_pb2.ProviderPreference(provider="openai", model="gpt-4o-mini")]
    bot = await create_bot(stack, account, knowledge_bases=[kb], personality=chatbot_pb2.Personality(providers=prefs))
    local.gateway.routes["openai"] = openai_stream(["Ten ", "[1]."], prompt_tokens=1000, completion_tokens=100)
    history = [
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_VISITOR, text="hi"),
        ai_pb2.Turn(role=ai_pb2.TURN_ROLE_ASSISTANT, text="Hello!"),
    ]

    events = [
        e
        async for e in local.ai.StreamResponse(
            ai_pb2.StreamResponseRequest(chatbot=bot.name, message=QUESTION, text_only=True, history=history),
            metadata=account.metadata,
        )
    ]

    kinds = [e.WhichOneof("event") for e in events]
    assert "animation_cue" not in kinds
    assert "viseme_cues" not in kinds
    assert not any(e.text_delta.visemes for e in events), "no mouth shapes for text alone"
    assert kinds[-2:] == ["usage", "done"]
    assert text_of(events) == "Ten [1]."
    usage = events[-2].usage
    assert (usage.provider, usage.model, usage.input_tokens, usage.output_tokens) == (
        "openai",
        "gpt-4.1-mini-2025-04-14",
        1000,
        100,
    )
    # The reported snapshot is priced as its family gpt-4.1-mini: 1000 * 0.40 + 100 * 1.60 dollars per million.
    assert usage.cost_micros == 560
    body = local.gateway.exchanges("openai")[-1].json()
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]


async def test_sentiment_intent_and_animation(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("ana")
    examples = [ai_pb2.IntentExample(text="I want a refund for my order", intent=ai_pb2.INTENT_COMPLAINT)]
    bot = (await create_bot(stack, account, personality=chatbot_pb2.Personality(intent_examples=examples))).name
    md = account.metadata

    happy = await local.ai.AnalyzeSentiment(
        ai_pb2.AnalyzeSentimentRequest(chatbot=bot, text="I love it, great job!"), metadata=md
    )
    assert happy.sentiment.label == ai_pb2.SENTIMENT_LABEL_POSITIVE
    intent = await local.ai.ClassifyIntent(
        ai_pb2.ClassifyIntentRequest(chatbot=bot, text="I want a refund for my order"), metadata=md
    )
    assert intent.intent == ai_pb2.INTENT_COMPLAINT
    assert intent.scores[0].intent == intent.intent
    greeting = await local.ai.SelectAnimation(
        ai_pb2.SelectAnimationRequest(chatbot=bot, intent=ai_pb2.INTENT_GREETING), metadata=md
    )
    assert (greeting.behaviour, greeting.changed) == (ai_pb2.BEHAVIOUR_GREET, True)
    held = ai_pb2.SelectAnimationRequest(
        chatbot=bot,
        sentiment=ai_pb2.Sentiment(score=-0.2),
        intent=ai_pb2.INTENT_QUESTION,
        previous_behaviour=ai_pb2.BEHAVIOUR_HAPPY,
    )
    held.previous_elapsed.FromMilliseconds(500)
    steady = await local.ai.SelectAnimation(held, metadata=md)
    assert (steady.behaviour, steady.changed) == (ai_pb2.BEHAVIOUR_HAPPY, False)


async def test_stream_response_carries_the_question_analysis_once_matching_the_analysis_rpcs(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("qa")
    examples = [ai_pb2.IntentExample(text="I want a refund for my order", intent=ai_pb2.INTENT_COMPLAINT)]
    bot = (await create_bot(stack, account, personality=chatbot_pb2.Personality(intent_examples=examples))).name
    md = account.metadata
    question = "I want a refund for my order, it arrived broken."

    for text_only in (False, True):
        events = [
            e
            async for e in local.ai.StreamResponse(
                ai_pb2.StreamResponseRequest(chatbot=bot, message=question, text_only=text_only), metadata=md
            )
        ]
        found = [e.question_analysis for e in events if e.WhichOneof("event") == "question_analysis"]
        assert len(found) == 1, f"text_only={text_only}"
        sentiment = await local.ai.AnalyzeSentiment(
            ai_pb2.AnalyzeSentimentRequest(chatbot=bot, text=question), metadata=md
        )
        intent = await local.ai.ClassifyIntent(ai_pb2.ClassifyIntentRequest(chatbot=bot, text=question), metadata=md)
        assert found[0].sentiment == sentiment.sentiment
        assert (found[0].intent, found[0].confidence) == (intent.intent, intent.confidence)
        assert found[0].intent == ai_pb2.INTENT_COMPLAINT
        assert [e.WhichOneof("event") for e in events][-2:] == ["usage", "done"]


async def test_search_knowledge_proxies_the_knowledge_service(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("kn")
    kb = seed_knowledge(local.knowledge, account)
    bot = await create_bot(stack, account, knowledge_bases=[kb])
    found = await local.ai.SearchKnowledge(
        ai_pb2.SearchKnowledgeRequest(chatbot=bot.name, query="Saturdays"), metadata=account.metadata
    )
    assert [r.text for r in found.results] == [HOURS]


async def test_bad_input_is_invalid_argument_with_field_violations(stack: Stack) -> None:
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    account = await stack.new_tenant("bad")
    bot = (await create_bot(stack, account)).name
    md = account.metadata
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    await expect_error(
        ai.GenerateResponse(ai_pb2.GenerateResponseRequest(chatbot=bot, message="", request_id="r" * 65), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"message", "request_id"},
    )
    await expect_error(
        ai.GenerateResponse(ai_pb2.GenerateResponseRequest(chatbot="tenants/nope", message="hi"), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"chatbot"},
    )
    await expect_error(
        ai.ClassifyIntent(
            ai_pb2.ClassifyIntentRequest(chatbot=bot, text="hi", extra_examples=[ai_pb2.IntentExample(text="")]),
            metadata=md,
        ),
        invalid,
        "INVALID_FIELD",
        {"extra_examples[0].text", "extra_examples[0].intent"},
    )
    await expect_error(
        ai.GetCosts(ai_pb2.GetCostsRequest(parent=account.tenant), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"start_time", "end_time"},
    )


async def test_bad_input_to_streaming_analysis_animation_and_search_names_each_field(stack: Stack) -> None:
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    account = await stack.new_tenant("bad")
    bot = (await create_bot(stack, account)).name
    md = account.metadata
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    elsewhere = f"{account.tenant}/chatbots/{uuid.uuid4()}/conversations/{uuid.uuid4()}"

    async def streamed(request: ai_pb2.StreamResponseRequest) -> list[ai_pb2.StreamResponseResponse]:
        return [event async for event in ai.StreamResponse(request, metadata=md)]

    await expect_error(
        streamed(
            ai_pb2.StreamResponseRequest(
                chatbot=bot,
                conversation=elsewhere,
                message=" ",
                history=[ai_pb2.Turn(role=ai_pb2.TURN_ROLE_VISITOR, text="x" * 4001)],
                request_id="r" * 65,
            )
        ),
        invalid,
        "INVALID_FIELD",
        {"conversation", "message", "history[0].text", "request_id"},
    )
    await expect_error(
        streamed(ai_pb2.StreamResponseRequest(chatbot="bots/1", message="hi")),
        invalid,
        "INVALID_FIELD",
        {"chatbot"},
    )
    for text in ("", "x" * 4001):
        await expect_error(
            ai.AnalyzeSentiment(ai_pb2.AnalyzeSentimentRequest(chatbot=bot, text=text), metadata=md),
            invalid,
            "INVALID_FIELD",
            {"text"},
        )
    await expect_error(
        ai.AnalyzeSentiment(ai_pb2.AnalyzeSentimentRequest(text="hi"), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"chatbot"},
    )
    animation = ai_pb2.SelectAnimationRequest(chatbot=bot, sentiment=ai_pb2.Sentiment(score=1.5))
    animation.previous_elapsed.FromMilliseconds(-500)
    await expect_error(
        ai.SelectAnimation(animation, metadata=md), invalid, "INVALID_FIELD", {"sentiment.score", "previous_elapsed"}
    )
    await expect_error(
        ai.SelectAnimation(ai_pb2.SelectAnimationRequest(chatbot=account.tenant), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"chatbot"},
    )
    await expect_error(
        ai.SearchKnowledge(ai_pb2.SearchKnowledgeRequest(chatbot=bot, query=" ", top_k=51), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"query", "top_k"},
    )
    await expect_error(
        ai.SearchKnowledge(ai_pb2.SearchKnowledgeRequest(chatbot=bot, query="x" * 2001, top_k=-1), metadata=md),
        invalid,
        "INVALID_FIELD",
        {"query", "top_k"},
    )
