"""Tenancy and visitors: other tenants get NOT_FOUND everywhere, visitors see only their own conversations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from tests.errors_assert import expect_error
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, kinds, send, start, visitor

NOT_FOUND = grpc.StatusCode.NOT_FOUND
if TYPE_CHECKING:
    Stub = conversation_pb2_grpc.ConversationServiceAsyncStub


async def test_every_conversation_rpc_answers_not_found_to_another_tenant(stack: Stack, conversations: Stub) -> None:
    owner = await stack.new_tenant("own")
    other = await stack.new_tenant("oth")
    bot = await create_bot(stack, owner)
    conversation = await start(conversations, bot.name, owner.metadata)
    md = other.metadata
    reason = "RESOURCE_NOT_FOUND"

    await expect_error(
        conversations.CreateConversation(
            pb.CreateConversationRequest(parent=bot.name, conversation=pb.Conversation(visitor_id="x")), metadata=md
        ),
        NOT_FOUND,
        reason,
    )
    await expect_error(
        conversations.GetConversation(pb.GetConversationRequest(name=conversation.name), metadata=md), NOT_FOUND, reason
    )
    await expect_error(send(conversations, conversation.name, "hi", md), NOT_FOUND, reason)
    await expect_error(
        conversations.ListMessages(pb.ListMessagesRequest(parent=conversation.name), metadata=md), NOT_FOUND, reason
    )
    await expect_error(
        conversations.EndConversation(pb.EndConversationRequest(name=conversation.name), metadata=md), NOT_FOUND, reason
    )
    await expect_error(
        conversations.ListVisitorConversations(
            pb.ListVisitorConversationsRequest(parent=bot.name, visitor_id="v-1"), metadata=md
        ),
        NOT_FOUND,
        reason,
    )
    # A conversation id under the wrong chatbot of the right tenant is missing too.
    second = await create_bot(stack, owner, display_name="Bo")
    moved = conversation.name.replace(bot.name, second.name)
    await expect_error(
        conversations.GetConversation(pb.GetConversationRequest(name=moved), metadata=owner.metadata), NOT_FOUND
    )
    # The owner still sees it, unchanged by the attempts.
    got = await conversations.GetConversation(
        pb.GetConversationRequest(name=conversation.name), metadata=owner.metadata
    )
    assert got.conversation.state == pb.CONVERSATION_STATE_ACTIVE
    assert got.conversation.message_count == 0


async def test_every_tenant_owned_ai_rpc_answers_not_found_to_another_tenant(stack: Stack) -> None:
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    owner = await stack.new_tenant("own")
    other = await stack.new_tenant("oth")
    bot = (await create_bot(stack, owner)).name
    md = other.metadata

    await expect_error(
        ai.GenerateResponse(ai_pb2.GenerateResponseRequest(chatbot=bot, message="hi"), metadata=md), NOT_FOUND
    )
    await expect_error(
        _drain(ai.StreamResponse(ai_pb2.StreamResponseRequest(chatbot=bot, message="hi"), metadata=md)), NOT_FOUND
    )
    await expect_error(
        ai.AnalyzeSentiment(ai_pb2.AnalyzeSentimentRequest(chatbot=bot, text="hi"), metadata=md), NOT_FOUND
    )
    await expect_error(ai.ClassifyIntent(ai_pb2.ClassifyIntentRequest(chatbot=bot, text="hi"), metadata=md), NOT_FOUND)
    await expect_error(ai.SelectAnimation(ai_pb2.SelectAnimationRequest(chatbot=bot), metadata=md), NOT_FOUND)
    await expect_error(
        ai.SearchKnowledge(ai_pb2.SearchKnowledgeRequest(chatbot=bot, query="hi"), metadata=md), NOT_FOUND
    )
    costs = ai_pb2.GetCostsRequest(parent=owner.tenant)
    costs.start_time.FromSeconds(0)
    costs.end_time.FromSeconds(86_400)
    await expect_error(ai.GetCosts(costs, metadata=md), NOT_FOUND)
    # A chatbot id that does not exist in one's own tenant is missing as well.
    missing = bot.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    await expect_error(
        ai.AnalyzeSentiment(ai_pb2.AnalyzeSentimentRequest(chatbot=missing, text="hi"), metadata=owner.metadata),
        NOT_FOUND,
    )


async def test_visitors_touch_only_their_own_conversations_of_their_own_chatbot(
    stack: Stack, conversations: Stub
) -> None:
    account = await stack.new_tenant("vis")
    bot = await create_bot(stack, account)
    other_bot = await create_bot(stack, account, display_name="Other")
    alice = await visitor(stack, bot.name, "alice")
    bob = await visitor(stack, bot.name, "bob")

    mine = await start(conversations, bot.name, alice, visitor_id="ignored-for-visitors")
    assert mine.visitor_id == "alice"
    assert mine.channel == pb.CHANNEL_WIDGET
    events = await send(conversations, mine.name, "Hello!", alice)
    assert kinds(events)[-1] == "message"
    answer = events[-1].message
    assert (answer.provider, answer.model, answer.input_tokens, answer.output_tokens) == ("", "", 0, 0)
    assert (answer.cost_micros, answer.currency_code) == (0, "")
    listed = await conversations.ListMessages(pb.ListMessagesRequest(parent=mine.name), metadata=alice)
    assert all(m.provider == "" and m.output_tokens == 0 for m in listed.messages)
    as_owner = await conversations.ListMessages(pb.ListMessagesRequest(parent=mine.name), metadata=account.metadata)
    assert as_owner.messages[-1].provider == "offline"
    assert as_owner.messages[-1].output_tokens > 0

    await expect_error(
        conversations.GetConversation(pb.GetConversationRequest(name=mine.name), metadata=bob), NOT_FOUND
    )
    await expect_error(send(conversations, mine.name, "hi", bob), NOT_FOUND)
    await expect_error(conversations.ListMessages(pb.ListMessagesRequest(parent=mine.name), metadata=bob), NOT_FOUND)
    await expect_error(
        conversations.EndConversation(pb.EndConversationRequest(name=mine.name), metadata=bob), NOT_FOUND
    )
    await expect_error(
        conversations.ListVisitorConversations(
            pb.ListVisitorConversationsRequest(parent=bot.name, visitor_id="alice"), metadata=bob
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(start(conversations, other_bot.name, alice), NOT_FOUND)
    own = await conversations.ListVisitorConversations(
        pb.ListVisitorConversationsRequest(parent=bot.name, visitor_id="alice"), metadata=alice
    )
    assert [c.name for c in own.conversations] == [mine.name]
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    await expect_error(
        ai.GenerateResponse(ai_pb2.GenerateResponseRequest(chatbot=bot.name, message="hi"), metadata=alice),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def _drain(call: object) -> None:
    async for _ in call:  # type: ignore[attr-defined]
        pass
