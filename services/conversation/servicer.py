"""ConversationService: thin RPC methods over the conversation store and the message relay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc

from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from services.conversation import access, validate
from services.conversation.convert import conversation_message, message_message
from services.conversation.dependencies import Dependencies
from services.conversation.relay import MessageRelay, Outgoing
from services.conversation.store import ConversationStore, NewConversation
from services.runtime import errors
from services.runtime.pagination import PageTokens, page_size
from services.runtime.validation import Checks

Context = grpc.aio.ServicerContext[Any, Any]
_STATE_FILTER = {pb.CONVERSATION_STATE_ACTIVE: "active", pb.CONVERSATION_STATE_ENDED: "ended"}


class ConversationServicer(conversation_pb2_grpc.ConversationServiceServicer):
    """Implements avatarchat.conversation.v1.ConversationService."""

    def __init__(
        self, store: ConversationStore, relay: MessageRelay, deps: Dependencies, page_tokens: PageTokens
    ) -> None:
        self._store = store
        self._relay = relay
        self._deps = deps
        self._pages = page_tokens

    async def _conversation(self, ref: access.ConversationRef) -> Any:
        row = await self._store.get(ref.bot.tenant_id, ref.bot.chatbot_id, ref.conversation_id)
        return access.visible(ref, row)

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: Context
    ) -> pb.CreateConversationResponse:
        """Starts an active conversation; visitors get their token's visitor id and the widget channel."""
        bot = access.chatbot(request.parent)
        given = request.conversation
        checks = Checks()
        if bot.is_visitor:
            visitor_id, channel = bot.principal.subject, pb.CHANNEL_WIDGET
        else:
            visitor_id = validate.visitor_id(checks, "conversation.visitor_id", given.visitor_id)
            default = pb.CHANNEL_API if bot.principal.kind == "api_key" else pb.CHANNEL_WIDGET
            channel = pb.Channel.ValueType(validate.channel(checks, "conversation.channel", given.channel) or default)
        new = NewConversation(
            chatbot_id=bot.chatbot_id,
            visitor_id=visitor_id,
            visitor_verified=False,
            channel=channel,
            page_url=validate.page_url(checks, "conversation.page_url", given.page_url),
            metadata=validate.metadata(checks, "conversation.metadata", given.metadata),
        )
        checks.done()
        await self._deps.require_chatbot(bot.tenant_id, request.parent)
        row = await self._store.create(bot.tenant_id, new)
        self._relay.created(bot.tenant_id, row)
        return pb.CreateConversationResponse(conversation=conversation_message(row))

    async def GetConversation(self, request: pb.GetConversationRequest, context: Context) -> pb.GetConversationResponse:
        """Returns one conversation."""
        ref = access.conversation(request.name)
        return pb.GetConversationResponse(conversation=conversation_message(await self._conversation(ref)))

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: Context
    ) -> AsyncIterator[pb.SendMessageResponse]:
        """Stores the question, relays the answer as it streams and ends with the stored answer."""
        ref = access.conversation(request.name)
        checks = Checks()
        text = validate.message_text(checks, "text", request.text)
        request_id = validate.request_id(checks, "request_id", request.request_id)
        validate.page_url(checks, "page_url", request.page_url)
        checks.done()
        async for event in self._relay.send(Outgoing(ref, text, request_id, request.text_only)):
            yield event

    async def ListMessages(self, request: pb.ListMessagesRequest, context: Context) -> pb.ListMessagesResponse:
        """A page of the conversation's messages, oldest first."""
        ref = access.conversation(request.parent, "parent")
        size = page_size(request.page_size)
        cursor = self._pages.decode(request.page_token, f"{request.parent}/messages")
        await self._conversation(ref)
        after = int(cursor[0]) if cursor else 0
        rows = await self._store.messages(ref.bot.tenant_id, ref.conversation_id, after, size + 1)
        response = pb.ListMessagesResponse(
            messages=[message_message(ref.name, r, for_visitor=ref.bot.is_visitor) for r in rows[:size]]
        )
        if len(rows) > size:
            response.next_page_token = self._pages.encode([rows[size - 1]["position"]], f"{request.parent}/messages")
        return response

    async def EndConversation(self, request: pb.EndConversationRequest, context: Context) -> pb.EndConversationResponse:
        """Ends the conversation (a no-op when it has ended) and emits conversation.ended once."""
        ref = access.conversation(request.name)
        await self._conversation(ref)
        payload = {
            "tenant": f"tenants/{ref.bot.tenant_id}",
            "chatbot": request.name.rsplit("/conversations/", 1)[0],
            "conversation": ref.name,
        }
        row = await self._store.end(ref.bot.tenant_id, ref.conversation_id, payload)
        self._relay.ended(ref)
        if row is None:
            raise errors.NotFound(ref.name)
        return pb.EndConversationResponse(conversation=conversation_message(row))

    async def ListVisitorConversations(
        self, request: pb.ListVisitorConversationsRequest, context: Context
    ) -> pb.ListVisitorConversationsResponse:
        """A visitor's conversations with the chatbot, newest first."""
        bot = access.chatbot(request.parent)
        checks = Checks()
        visitor_id = validate.visitor_id(checks, "visitor_id", request.visitor_id)
        if request.state not in (pb.CONVERSATION_STATE_UNSPECIFIED, *_STATE_FILTER):
            checks.fail("state", "unknown state")
        checks.done()
        if bot.is_visitor and visitor_id != bot.principal.subject:
            raise errors.PermissionDenied("visitors may only list their own conversations")
        size = page_size(request.page_size)
        scope = f"{request.parent}/visitors/{visitor_id}/conversations?state={request.state}"
        cursor = self._pages.decode(request.page_token, scope)
        before = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.visitor_page(
            bot.tenant_id,
            bot.chatbot_id,
            visitor_id,
            state=_STATE_FILTER.get(request.state),
            limit=size + 1,
            before=before,
        )
        response = pb.ListVisitorConversationsResponse(conversations=[conversation_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last["create_time"].isoformat(), str(last["id"])], scope)
        return response
