"""Settings of the conversation service."""

from __future__ import annotations

from services.runtime.settings import RuntimeSettings


class ConversationSettings(RuntimeSettings):
    """Conversation service settings (`AVATARCHAT_CONVERSATION_<NAME>`)."""

    conversation_dependency_timeout_seconds: float = 3.0
    """Deadline of unary calls to the chatbot, tenant and AI services before an answer streams."""

    conversation_history_turns: int = 20
    """Earlier messages sent to the AI service with each question (the AI service uses at most 20)."""

    conversation_remembered_conversations: int = 4096
    """Conversations whose newest turns this process keeps in memory, so a follow-up question goes to the AI
    service without reading the conversation first (0: always read). Each holds at most the history turns."""

    conversation_remembered_chars: int = 8_000_000
    """Characters of message text those conversations may hold in all; the least recently used go first past it
    (a few tens of MB of memory at most)."""

    conversation_events_enabled: bool = True
    """Relay the outbox to RabbitMQ; without it events wait in the outbox table."""
