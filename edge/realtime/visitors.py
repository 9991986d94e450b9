"""What the edge knows about each connected widget socket."""

from __future__ import annotations

from dataclasses import dataclass

from edge.realtime.gateway import VisitorToken


@dataclass
class Visitor:
    """One socket's visitor: its chatbot, identity, token and current conversation."""

    chatbot: str
    visitor_id: str
    verified: bool
    token: VisitorToken
    page_url: str
    conversation: str = ""


def conversation_room(conversation: str) -> str:
    """Room of every socket in one conversation (a visitor's tabs, and later a human agent)."""
    return f"conversation:{conversation}"


def chatbot_room(chatbot: str) -> str:
    """Room of every socket on one chatbot's widget."""
    return f"chatbot:{chatbot}"
