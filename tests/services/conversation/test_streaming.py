"""SendMessage end to end: a cited answer with cues and visemes, stored with tokens, cost and latency."""

from __future__ import annotations

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from services.ai.visemes import VisemeStream
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, kinds, seed_knowledge, send, start, text_of
from tests.services.conversation.platform_env import LocalPlatform


async def test_an_answer_streams_with_citations_cues_and_visemes_and_is_stored(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("cv")
    kb = seed_knowledge(local.knowledge, account)
    bot = await create_bot(stack, account, knowledge_bases=[kb])
    conversation = await start(local.conversations, bot.name, account.metadata)

    events = await send(
        local.conversations, conversation.name, "When does the shop open on Saturdays?", account.metadata
    )

    order = kinds(events)
    assert order[0] == "started"
    assert order[-1] == "message"
    assert {"text_delta", "citation", "animation_cue", "viseme_cues"} <= set(order)
    assert order.count("text_delta") > 1, "the answer streams in pieces"
    answer = text_of(events)
    assert "10am" in answer
    assert "[1]" in answer
    # The mouth shapes ride with the text that completes their words; the last words' follow the text, and together
    # they are exactly the shapes of the whole answer.
    carried = [c for e in events if e.WhichOneof("event") == "text_delta" for c in e.text_delta.visemes]
    [closing] = [e.viseme_cues for e in events if e.WhichOneof("event") == "viseme_cues"]
    assert carried, "text deltas carry their mouth shapes"
    assert order.index("viseme_cues") > len(order) - 1 - order[::-1].index("text_delta")
    whole = VisemeStream()
    expected = [(c.viseme, c.start_ms, c.duration_ms) for c in whole.feed(answer) + whole.finish()]
    assert [
        (c.viseme, c.start_offset.ToMilliseconds(), c.duration.ToMilliseconds()) for c in [*carried, *closing.cues]
    ] == expected
    citation = next(e.citation for e in events if e.WhichOneof("event") == "citation")
    assert citation.index == 1
    assert citation.document.startswith(f"{kb}/documents/")
    assert citation.title == "Opening hours"
    assert "Saturdays" in citation.snippet
    stored = events[-1].message
    assert stored.name == events[0].started.assistant_message
    assert stored.role == pb.MESSAGE_ROLE_ASSISTANT
    assert stored.state == pb.MESSAGE_STATE_COMPLETE
    assert stored.text == answer
    assert [c.document for c in stored.citations] == [citation.document]
    assert stored.provider == "offline"
    assert stored.input_tokens > 0
    assert stored.output_tokens > 0
    assert stored.cost_micros == 0
    assert stored.currency_code == "USD"
    assert stored.HasField("first_token_latency")
    assert stored.first_token_latency.ToNanoseconds() > 0
    assert stored.finish_reason == ai_pb2.FINISH_REASON_STOP
    # The answer is stored with how it reads as a whole.
    answer_sentiment = await local.ai.AnalyzeSentiment(
        ai_pb2.AnalyzeSentimentRequest(chatbot=bot.name, text=answer), metadata=account.metadata
    )
    assert stored.HasField("sentiment")
    assert stored.sentiment == answer_sentiment.sentiment

    listed = await local.conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
    )
    assert [m.role for m in listed.messages] == [pb.MESSAGE_ROLE_VISITOR, pb.MESSAGE_ROLE_ASSISTANT]
    assert listed.messages[0].text == "When does the shop open on Saturdays?"
    assert listed.messages[1] == stored
    assert "question_analysis" not in order, "the analysis is stored, not relayed"


async def test_the_question_is_stored_with_the_sentiment_and_intent_the_answer_stream_carried(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("cva")
    examples = [ai_pb2.IntentExample(text="I want a refund for my broken order", intent=ai_pb2.INTENT_COMPLAINT)]
    personality = chatbot_pb2.Personality(intent_examples=examples)
    bot = await create_bot(stack, account, personality=personality)
    conversation = await start(local.conversations, bot.name, account.metadata)
    question = "I want a refund for my broken order, this is terrible!"
    expected_sentiment = await local.ai.AnalyzeSentiment(
        ai_pb2.AnalyzeSentimentRequest(chatbot=bot.name, text=question), metadata=account.metadata
    )

    events = await send(local.conversations, conversation.name, question, account.metadata)

    assert kinds(events)[-1] == "message"
    listed = await local.conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
    )
    visitor = listed.messages[0]
    assert visitor.role == pb.MESSAGE_ROLE_VISITOR
    assert visitor.intent == ai_pb2.INTENT_COMPLAINT
    assert 0 < visitor.intent_confidence <= 1
    assert visitor.sentiment.label == ai_pb2.SENTIMENT_LABEL_NEGATIVE
    assert visitor.sentiment.score == expected_sentiment.sentiment.score


async def test_the_stack_answers_offline_out_of_the_box(stack: Stack) -> None:
    stub = conversation_pb2_grpc.ConversationServiceStub(stack.channel("conversation"))
    account = await stack.new_tenant("cv")
    bot = await create_bot(
        stack,
        account,
        personality=chatbot_pb2.Personality(greeting="Hi, I am Ava!", fallback_answer="I do not know that yet."),
    )
    conversation = await start(stub, bot.name, account.metadata)
    events = await send(stub, conversation.name, "Hello!", account.metadata)
    assert kinds(events)[0] == "started"
    assert events[-1].message.state == pb.MESSAGE_STATE_COMPLETE
    assert events[-1].message.text
    cues = [e.animation_cue for e in events if e.WhichOneof("event") == "animation_cue"]
    assert cues[0].behaviour == ai_pb2.BEHAVIOUR_GREET
