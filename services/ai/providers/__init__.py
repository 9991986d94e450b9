"""Answer providers: OpenAI (and compatible servers), Anthropic, Gemini, and the offline extractive default."""

from services.ai.providers.base import (
    AnswerContext,
    ChatMessage,
    FinishReason,
    GenerationRequest,
    Provider,
    ProviderConfig,
    ProviderEvent,
    ProviderKind,
    TextDelta,
    UsageReport,
)
from services.ai.providers.errors import (
    AllProvidersFailed,
    ProviderError,
    ProviderStreamError,
    ProviderUnavailable,
)

__all__ = [
    "AllProvidersFailed",
    "AnswerContext",
    "ChatMessage",
    "FinishReason",
    "GenerationRequest",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderEvent",
    "ProviderKind",
    "ProviderStreamError",
    "ProviderUnavailable",
    "TextDelta",
    "UsageReport",
]
