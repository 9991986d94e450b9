"""Fixtures of the conversation service tests: stubs on the stack and the local provider platform."""

from __future__ import annotations

import pytest

from avatarchat.ai.v1 import ai_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2_grpc
from tests.services.conftest import Stack
from tests.services.conversation.platform_env import _clear_routes, local

__all__ = ["_clear_routes", "local"]


@pytest.fixture
def conversations(stack: Stack) -> conversation_pb2_grpc.ConversationServiceAsyncStub:
    """ConversationService of the stack."""
    return conversation_pb2_grpc.ConversationServiceStub(stack.channel("conversation"))


@pytest.fixture
def ai(stack: Stack) -> ai_pb2_grpc.AiServiceAsyncStub:
    """AiService of the stack (offline provider only)."""
    return ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
