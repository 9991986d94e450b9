"""The gRPC calls behind the widget: embed resolution and visitor tokens as the edge, chat as the visitor."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from services.runtime.clients import Clients, with_request_id
from services.runtime.tokens import ServiceTokens

#: A visitor token is renewed when it has less than this left, so no call fails on expiry mid-session.
_RENEW_SECONDS = 60.0
#: Embed configs (for the greeting) are reused this long.
_CONFIG_SECONDS = 30.0


@dataclass
class VisitorToken:
    """A visitor token and when it expires (epoch seconds)."""

    token: str
    expires_at: float

    @property
    def fresh(self) -> bool:
        """Whether the token outlives the renewal margin."""
        return self.expires_at - time.time() > _RENEW_SECONDS

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata that authenticates the visitor."""
        return (("authorization", f"Bearer {self.token}"),)


def tenant_of(chatbot: str) -> uuid.UUID:
    """The tenant id in `tenants/{tenant}/chatbots/{chatbot}`."""
    return uuid.UUID(chatbot.split("/")[1])


class Gateway:
    """Typed stubs of the services the widget reaches; the edge's own calls carry a service token.

    The channels keep the propagating interceptor (services/runtime/clients.py): every unary call gets the
    socket event's request id (set by the namespace) and the deadline `call_timeout_seconds`; the one stream,
    SendMessage, passes both itself. A socket event's few calls do not need the REST path's interceptor-free
    channels.
    """

    def __init__(self, clients: Clients, tokens: ServiceTokens) -> None:
        self._tokens = tokens
        self._chatbots = chatbot_pb2_grpc.ChatbotServiceStub(clients.channel("chatbot"))
        self._auth = auth_pb2_grpc.AuthServiceStub(clients.channel("auth"))
        self._greetings: dict[str, tuple[float, str]] = {}
        self._conversations = conversation_pb2_grpc.ConversationServiceStub(clients.channel("conversation"))

    async def resolve(self, request: chatbot_pb2.ResolveEmbedRequest) -> chatbot_pb2.ResolveEmbedResponse:
        """Checks origin, page and visitor identity (platform-wide token: the tenant is not known yet)."""
        return await self._chatbots.ResolveEmbed(request, metadata=self._tokens.metadata())

    async def greeting(self, embed_id: str) -> str:
        """The chatbot's greeting from its public embed config (cached briefly; "" when unavailable)."""
        now = time.monotonic()
        cached = self._greetings.get(embed_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            config = await self._chatbots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=embed_id))
        except grpc.aio.AioRpcError:
            return ""
        if len(self._greetings) > 10_000:
            self._greetings.clear()
        self._greetings[embed_id] = (now + _CONFIG_SECONDS, config.embed_config.greeting)
        return config.embed_config.greeting

    async def visitor_token(self, chatbot: str, visitor_id: str, verified: bool) -> VisitorToken:
        """A short-lived token for the visitor, minted by the auth service for the chatbot's tenant."""
        issued = await self._auth.IssueVisitorToken(
            auth_pb2.IssueVisitorTokenRequest(chatbot=chatbot, visitor_id=visitor_id, verified=verified),
            metadata=self._tokens.metadata(tenant_of(chatbot)),
        )
        return VisitorToken(issued.token, issued.expire_time.ToSeconds())

    async def get_conversation(self, token: VisitorToken, name: str) -> conversation_pb2.Conversation:
        """One of the visitor's conversations (another visitor's answers NOT_FOUND)."""
        response = await self._conversations.GetConversation(
            conversation_pb2.GetConversationRequest(name=name), metadata=token.metadata()
        )
        return response.conversation

    async def create_conversation(
        self, token: VisitorToken, chatbot: str, page_url: str
    ) -> conversation_pb2.Conversation:
        """A new widget conversation of the visitor (the service takes the visitor id from the token)."""
        response = await self._conversations.CreateConversation(
            conversation_pb2.CreateConversationRequest(
                parent=chatbot,
                conversation=conversation_pb2.Conversation(channel=conversation_pb2.CHANNEL_WIDGET, page_url=page_url),
            ),
            metadata=token.metadata(),
        )
        return response.conversation

    def send_message(
        self, token: VisitorToken, request: conversation_pb2.SendMessageRequest, timeout: float
    ) -> AsyncIterator[conversation_pb2.SendMessageResponse]:
        """The answer stream of one visitor message."""
        # Passed here, not by the interceptor: grpc.aio files an interceptor of several kinds under unary-unary only.
        metadata = with_request_id(token.metadata())
        call = self._conversations.SendMessage(request, metadata=metadata, timeout=timeout)
        return call.__aiter__()

    async def messages(self, token: VisitorToken, conversation: str) -> list[conversation_pb2.Message]:
        """Every message of a conversation, oldest first."""
        out: list[conversation_pb2.Message] = []
        page_token = ""
        while True:
            page = await self._conversations.ListMessages(
                conversation_pb2.ListMessagesRequest(parent=conversation, page_size=1000, page_token=page_token),
                metadata=token.metadata(),
            )
            out.extend(page.messages)
            page_token = page.next_page_token
            if not page_token:
                return out

    async def end_conversation(self, token: VisitorToken, name: str) -> conversation_pb2.Conversation:
        """Ends the conversation (a no-op when it already ended)."""
        response = await self._conversations.EndConversation(
            conversation_pb2.EndConversationRequest(name=name), metadata=token.metadata()
        )
        return response.conversation
