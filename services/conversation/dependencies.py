"""What the conversation service asks other services, always as itself with a service token for the tenant."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence

import grpc

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime import status
from services.runtime.clients import STREAM_TIMEOUT_SECONDS, with_request_id
from services.runtime.quota import LeasedQuota, PlanQuota
from services.runtime.tokens import ServiceTokens

#: A running AiService.StreamResponse call.
AnswerCall = grpc.aio.UnaryStreamCall[ai_pb2.StreamResponseRequest, ai_pb2.StreamResponseResponse]


class Dependencies:
    """Stubs of the tenant, chatbot and AI services with deadlines and service credentials."""

    def __init__(
        self,
        tenants: tenant_pb2_grpc.TenantServiceAsyncStub,
        chatbots: chatbot_pb2_grpc.ChatbotServiceAsyncStub,
        ai: ai_pb2_grpc.AiServiceAsyncStub,
        tokens: ServiceTokens,
        *,
        timeout: float,
        bot_ttl_seconds: float = 5.0,
    ) -> None:
        # Every message takes one: a busy tenant's are reserved in blocks (see LeasedQuota for what that trades).
        self._messages = LeasedQuota(PlanQuota(tenants, tokens, tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH, timeout))
        self._chatbots = chatbots
        self._ai = ai
        self._tokens = tokens
        self._timeout = timeout
        self._bot_ttl = bot_ttl_seconds
        self._known_bots: dict[str, float] = {}

    async def require_chatbot(self, tenant_id: uuid.UUID, name: str) -> None:
        """NOT_FOUND unless the chatbot exists (remembered for a few seconds: every message needs it)."""
        if self._known_bots.get(name, 0.0) > time.monotonic():
            return
        try:
            await self._chatbots.GetChatbot(
                chatbot_pb2.GetChatbotRequest(name=name),
                metadata=with_request_id(self._tokens.metadata(tenant_id)),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
        if len(self._known_bots) > 10_000:
            self._known_bots.clear()
        self._known_bots[name] = time.monotonic() + self._bot_ttl

    async def reserve_message(self, tenant_id: uuid.UUID) -> None:
        """Takes one message of the plan's monthly limit; LIMIT_EXCEEDED propagates unchanged."""
        await self._messages.take(tenant_id)

    async def release_message(self, tenant_id: uuid.UUID) -> None:
        """Gives back a message taken for a call that turned out not to count (a failure is logged)."""
        await self._messages.give_back(tenant_id)

    async def close(self) -> None:
        """Returns the messages this process still holds in leases to the plan."""
        await self._messages.close()

    def stream_answer(
        self,
        tenant_id: uuid.UUID,
        chatbot: str,
        conversation: str,
        text: str,
        history: Sequence[ai_pb2.Turn],
        *,
        request_id: str,
        text_only: bool,
    ) -> AnswerCall:
        """The AI service's answer stream; cancel() it to close the provider stream."""
        request = ai_pb2.StreamResponseRequest(
            chatbot=chatbot,
            conversation=conversation,
            message=text,
            history=list(history),
            request_id=request_id,
            text_only=text_only,
        )
        return self._ai.StreamResponse(
            request, metadata=with_request_id(self._tokens.metadata(tenant_id)), timeout=STREAM_TIMEOUT_SECONDS
        )

    async def analyze(self, tenant_id: uuid.UUID, chatbot: str, text: str) -> ai_pb2.QuestionAnalysis:
        """Sentiment and intent of a visitor message, as an answer stream would have carried them."""
        metadata = with_request_id(self._tokens.metadata(tenant_id))
        try:
            sentiment = await self._ai.AnalyzeSentiment(
                ai_pb2.AnalyzeSentimentRequest(chatbot=chatbot, text=text), metadata=metadata, timeout=self._timeout
            )
            intent = await self._ai.ClassifyIntent(
                ai_pb2.ClassifyIntentRequest(chatbot=chatbot, text=text), metadata=metadata, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
        return ai_pb2.QuestionAnalysis(
            sentiment=sentiment.sentiment, intent=intent.intent, confidence=intent.confidence
        )


async def events_of(call: AnswerCall) -> AsyncIterator[ai_pb2.StreamResponseResponse]:
    """The events of an answer stream, one by one as they arrive."""
    async for event in call:
        yield event
