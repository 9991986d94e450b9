"""Settings of the AI service: platform-wide provider credentials, the key sealing tenants' keys, cache, deadlines."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from services.ai.providers.gemini_provider import VERTEX_ID, service_account_info
from services.runtime.settings import RuntimeSettings


class ProviderSetting(BaseModel):
    """One platform-wide provider, as JSON in AVATARCHAT_AI_PROVIDERS."""

    id: str
    """Provider id a bot's ProviderPreference names: openai, anthropic, gemini, vertex."""
    api_key: SecretStr = SecretStr("")
    """Platform-wide key; never logged or returned. For vertex: a Vertex AI API key or a service account key's JSON."""
    base_url: str | None = None
    """API root; points the official SDK at a compatible or local server."""
    default_model: str = ""
    """Model used when a preference names none."""
    kind: Literal["cloud", "self_hosted"] = "cloud"
    """Hosted by a vendor or by the operator."""
    location: str = ""
    """vertex with a service account key: the Google Cloud region (e.g. us-central1); empty is `global`."""

    @model_validator(mode="after")
    def _vertex_key_is_readable(self) -> ProviderSetting:
        """A vertex key that looks like a service account key must be a whole one, found at start-up."""
        if self.id == VERTEX_ID:
            # Raises a ValueError naming the missing fields, never quoting the key.
            service_account_info(self.api_key.get_secret_value())
        return self


class AiSettings(RuntimeSettings):
    """AI service settings (`AVATARCHAT_AI_<NAME>`)."""

    ai_providers: list[ProviderSetting] = Field(default_factory=list)
    """Platform-wide providers as JSON; the offline provider is always there and needs no entry."""

    ai_offline_pace_seconds: float = 0.03
    """Pause between the offline provider's words, so answers read like typed replies."""

    ai_first_token_timeout_seconds: float = 20.0
    """How long one provider may take to its first token before the next is tried."""

    ai_dependency_timeout_seconds: float = 3.0
    """Deadline of calls to the chatbot and knowledge services."""

    ai_knowledge_top_k: int = 5
    """Passages retrieved per question."""

    ai_cache_ttl_seconds: int = 86_400
    """How long a cached answer lives (a knowledge change also retires it through the key)."""

    ai_credential_key: str = ""
    """base64url of 32 bytes sealing tenants' provider keys; empty derives one (HKDF) from the internal secret."""

    ai_credential_stamp_ttl_seconds: int = 86_400
    """Life of a tenant's credentials stamp in Redis; an expired stamp only costs one reload from the database."""

    ai_allow_private_base_urls: bool = False
    """Lets a tenant's provider credential point at private, loopback or link-local addresses (an operator's own
    model servers); off, so a tenant cannot make the AI service call internal hosts."""

    ai_intent_embedder: Literal["hashed-words", "minilm"] = "hashed-words"
    """Embedder of the intent classifier; minilm is better but loads torch into the process."""
