"""Settings of the chatbot service."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import field_validator

from services.runtime.settings import RuntimeSettings


class ChatbotSettings(RuntimeSettings):
    """Chatbot service settings (`AVATARCHAT_CHATBOT_<NAME>` for its own, `AVATARCHAT_<NAME>` for shared ones)."""

    public_base_url: str = "http://127.0.0.1:3008"
    """Where browsers reach the edge; the embed script and avatar models are served below it."""

    chatbot_visitor_secret_key: str = ""
    """Base64url AES-256 key that encrypts visitor secrets at rest; empty derives one from the internal secret."""

    chatbot_dependency_timeout_seconds: float = 3.0
    """Deadline of calls to the avatar and tenant services, short because the public embed path waits on them."""

    @field_validator("public_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("AVATARCHAT_PUBLIC_BASE_URL must be an http(s) URL without query or fragment")
        if any(c in value for c in "\"'<> "):
            raise ValueError("AVATARCHAT_PUBLIC_BASE_URL must not contain quotes, spaces or angle brackets")
        return value.rstrip("/")
