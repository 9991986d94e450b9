"""Helpers of the chatbot service tests: the ChatbotService stub, chatbot factories and direct DB access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import Account, Stack

Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
def bots(stack: Stack) -> chatbot_pb2_grpc.ChatbotServiceAsyncStub:
    """A ChatbotService stub on the running stack."""
    return chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))


async def create_bot(
    bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, account: Account, display_name: str = "Ava", **fields: Any
) -> chatbot_pb2.Chatbot:
    """Creates a chatbot in the account's tenant as its owner."""
    response = await bots.CreateChatbot(
        chatbot_pb2.CreateChatbotRequest(
            parent=account.tenant, chatbot=chatbot_pb2.Chatbot(display_name=display_name, **fields)
        ),
        metadata=account.metadata,
    )
    return response.chatbot


async def get_bot(bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, account: Account, name: str) -> chatbot_pb2.Chatbot:
    """Reads a chatbot back as the account's owner."""
    return (await bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=name), metadata=account.metadata)).chatbot


async def chatbots_used(stack: Stack, account: Account) -> int:
    """How many chatbots the tenant service counts against the account's plan."""
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    return next(u.used for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_CHATBOTS)


def edge(stack: Stack) -> Metadata:
    """What the edge presents: a platform-wide service token (it does not know the tenant before resolving)."""
    return stack.operator.metadata()


@pytest.fixture(scope="session")
async def chatbot_db(settings: RuntimeSettings) -> AsyncIterator[Database]:
    """The chatbot service's database handle (its role, RLS applies) for checks below the API."""
    db = await Database.connect(settings, "chatbot")
    yield db
    await db.close()
