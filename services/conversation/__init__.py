"""The conversation service: conversations, messages and the streaming relay to the AI service."""
