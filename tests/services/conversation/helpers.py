"""Helpers of the conversation and AI service tests: bots, knowledge, visitors and stream collection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from avatarchat.ai.v1 import ai_pb2
from avatarchat.auth.v1 import auth_pb2
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2
from tests.services.conftest import Account, Stack
from tests.services.conversation.platform_env import StandInKnowledge

Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")
HOURS = "Our shop opens at 9am on weekdays and at 10am on Saturdays."


async def create_bot(stack: Stack, account: Account, **fields: Any) -> chatbot_pb2.Chatbot:
    """A chatbot created through the real ChatbotService as the account's owner."""
    bots = chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))
    fields.setdefault("display_name", "Ava")
    response = await bots.CreateChatbot(
        chatbot_pb2.CreateChatbotRequest(parent=account.tenant, chatbot=chatbot_pb2.Chatbot(**fields)),
        metadata=account.metadata,
    )
    return response.chatbot


def seed_knowledge(
    knowledge: StandInKnowledge, account: Account, text: str = HOURS, title: str = "Opening hours"
) -> str:
    """A knowledge base of the stand-in knowledge service holding one chunk; returns its name."""
    kb = f"{account.tenant}/knowledgeBases/{uuid.uuid4()}"
    document = f"{kb}/documents/{uuid.uuid4()}"
    knowledge.chunks[kb] = [
        knowledge_pb2.SearchResult(
            chunk_id=f"chunk-{uuid.uuid4().hex[:8]}",
            text=text,
            score=0.9,
            source=knowledge_pb2.Source(document=document, title=title),
        )
    ]
    return kb


async def visitor(stack: Stack, chatbot: str, visitor_id: str = "") -> Metadata:
    """Metadata of a widget visitor of `chatbot`, as the edge would obtain it."""
    response = await stack.auth.IssueVisitorToken(
        auth_pb2.IssueVisitorTokenRequest(chatbot=chatbot, visitor_id=visitor_id or f"v-{uuid.uuid4().hex[:10]}"),
        metadata=stack.operator.metadata(),
    )
    return (("authorization", f"Bearer {response.token}"),)


async def start(
    stub: conversation_pb2_grpc.ConversationServiceAsyncStub, chatbot: str, metadata: Metadata, visitor_id: str = "v-1"
) -> pb.Conversation:
    """A new conversation of the chatbot."""
    response = await stub.CreateConversation(
        pb.CreateConversationRequest(parent=chatbot, conversation=pb.Conversation(visitor_id=visitor_id)),
        metadata=metadata,
    )
    return response.conversation


async def send(
    stub: conversation_pb2_grpc.ConversationServiceAsyncStub,
    conversation: str,
    text: str,
    metadata: Metadata,
    **fields: Any,
) -> list[pb.SendMessageResponse]:
    """Every event of one SendMessage."""
    call = stub.SendMessage(pb.SendMessageRequest(name=conversation, text=text, **fields), metadata=metadata)
    return [event async for event in call]


def kinds(events: list[pb.SendMessageResponse]) -> list[str]:
    """The event kinds in order."""
    return [str(e.WhichOneof("event")) for e in events]


def text_of(events: list[pb.SendMessageResponse] | list[ai_pb2.StreamResponseResponse]) -> str:
    """The streamed answer text."""
    return "".join(e.text_delta.text for e in events if e.WhichOneof("event") == "text_delta")


async def eventually(check: Callable[[], Awaitable[T | None]], seconds: float = 5.0) -> T:
    """Polls `check` until it returns a value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def aiter_list(items: AsyncIterator[T]) -> list[T]:
    """Collects an async iterator."""
    return [item async for item in items]
