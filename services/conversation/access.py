"""Who may touch which conversation: the caller's tenant, and for visitors their own chatbot and visitor id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.runtime import errors
from services.runtime.context import Principal, require_tenant_access
from services.runtime.names import parse

CHATBOT_PATTERN = "tenants/{tenant}/chatbots/{chatbot}"
CONVERSATION_PATTERN = "tenants/{tenant}/chatbots/{chatbot}/conversations/{conversation}"


@dataclass(frozen=True, slots=True)
class ChatbotRef:
    """A chatbot the caller may act on."""

    tenant_id: uuid.UUID
    chatbot_id: uuid.UUID
    principal: Principal

    @property
    def is_visitor(self) -> bool:
        """Whether the caller is a widget visitor (bound to this chatbot)."""
        return self.principal.kind == "visitor"


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation name the caller may act on (existence still to be checked)."""

    bot: ChatbotRef
    conversation_id: uuid.UUID
    name: str


def chatbot(name: str, field: str = "parent") -> ChatbotRef:
    """The chatbot of `name`; NOT_FOUND for another tenant's or, for visitors, another chatbot's."""
    ids = parse(name, CHATBOT_PATTERN, field)
    principal = require_tenant_access(ids["tenant"], name)
    if principal.kind == "visitor" and principal.chatbot_id != ids["chatbot"]:
        raise errors.NotFound(name)
    return ChatbotRef(ids["tenant"], ids["chatbot"], principal)


def conversation(name: str, field: str = "name") -> ConversationRef:
    """The conversation of `name`, checked as chatbot() checks its chatbot."""
    ids = parse(name, CONVERSATION_PATTERN, field)
    bot = chatbot(name.rsplit("/conversations/", 1)[0], field)
    return ConversationRef(bot, ids["conversation"], name)


def visible(ref: ConversationRef, row: asyncpg.Record | None) -> asyncpg.Record:
    """The row, if it exists and the caller may see it; visitors see only their own conversations."""
    if row is None or not may_see(ref, row["visitor_id"]):
        raise errors.NotFound(ref.name)
    return row


def may_see(ref: ConversationRef, visitor_id: str) -> bool:
    """Whether the caller may see a conversation of the visitor: a visitor only their own."""
    return not ref.bot.is_visitor or visitor_id == ref.bot.principal.subject
