"""What every answer provider takes and yields, and the protocol they implement."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncGenerator
from typing import Literal, Protocol

import httpx2
from pydantic import SecretStr

from services.ai.passages import Passage
from services.ai.token_estimate import estimate_tokens

Role = Literal["user", "assistant"]

#: HTTP connection limits of the SDK providers' clients: every concurrent answer holds a connection, and idle
#: ones are all kept, since a busy bot reuses them at once.
CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)


class FinishReason(enum.StrEnum):
    """Why an answer ended (ai.v1 FinishReason without its prefix)."""

    STOP = "stop"
    MAX_TOKENS = "max_tokens"
    FALLBACK = "fallback"
    HANDOFF = "handoff"
    CONTENT_FILTER = "content_filter"


class ProviderKind(enum.StrEnum):
    """How a provider produces answers (ai.v1 ProviderKind without its prefix)."""

    OFFLINE = "offline"
    CLOUD = "cloud"
    SELF_HOSTED = "self_hosted"


@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation sent to a model."""

    role: Role
    content: str


@dataclasses.dataclass(frozen=True, slots=True)
class AnswerContext:
    """The grounding of an answer, for providers (offline) that answer from it rather than from a prompt."""

    question: str
    """The visitor's message."""
    passages: tuple[Passage, ...] = ()
    """Retrieved knowledge, best first, numbered as cited."""
    bot_name: str = ""
    """Name the bot introduces itself with."""
    tone: str = "friendly"
    """The personality's tone (chatbot.v1 Tone without its prefix, lower case)."""
    greeting: str = ""
    """The personality's greeting."""
    fallback_answer: str = ""
    """Answer when nothing relevant is known."""
    handoff_text: str = ""
    """Answer when the visitor asks for a human."""
    avoided_topics: tuple[str, ...] = ()
    """Topics the bot declines to discuss."""
    language: str = ""
    """BCP-47 language to answer in."""


@dataclasses.dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A prompt for a model plus the grounding it was built from."""

    system: str
    """System instructions."""
    messages: tuple[ChatMessage, ...]
    """History and the visitor's message, oldest first; the last is from the user."""
    context: AnswerContext
    """What the prompt was built from."""
    model: str = ""
    """Model id; empty means the provider's default."""
    temperature: float | None = None
    """Sampling temperature; None means the provider's default."""
    max_output_tokens: int = 512
    """Longest answer in tokens."""


@dataclasses.dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of an answer."""

    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class UsageReport:
    """The last event of a successful stream: token counts as the provider reported them."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    first_token_latency: float | None = None
    """Seconds from the request to the first text delta; set by the failover chain."""
    estimated: bool = False
    """True when the provider reported no usage and the counts are estimates."""


ProviderEvent = TextDelta | UsageReport


def estimated_usage(
    provider: str, model: str, request: GenerationRequest, answer: str, finish_reason: FinishReason
) -> UsageReport:
    """Usage counted with the token estimate, for providers without a usage report."""
    prompt = "\n".join([request.system, *(m.content for m in request.messages)])
    return UsageReport(
        provider=provider,
        model=model,
        input_tokens=estimate_tokens(prompt),
        output_tokens=estimate_tokens(answer),
        finish_reason=finish_reason,
        estimated=True,
    )


class Provider(Protocol):
    """A source of streamed answers."""

    @property
    def id(self) -> str:
        """Stable provider id, e.g. "openai"; used in provider preferences."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Streams text deltas then one usage report; raises ProviderUnavailable or ProviderStreamError.

        Implementations are async generator functions; closing the generator (aclose, or the consuming task
        being cancelled) must close the upstream HTTP stream, hence AsyncGenerator rather than AsyncIterator.
        """
        ...

    async def aclose(self) -> None:
        """Releases the provider's connections."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderConfig:
    """How to reach one hosted or self-hosted model API; per tenant or platform-wide."""

    id: str
    """Provider id, e.g. "openai", "anthropic", "gemini", "vertex", or an operator's name such as "vllm"."""
    api_key: SecretStr = dataclasses.field(default_factory=lambda: SecretStr(""), repr=False)
    """The API key; SecretStr keeps it out of reprs and logs, and it is never returned by an API."""
    base_url: str | None = None
    """API root; None means the vendor's. Points OpenAI's SDK at vLLM, Ollama or llama.cpp servers."""
    default_model: str = ""
    """Model used when a preference names none."""
    kind: ProviderKind = ProviderKind.CLOUD
    """Hosted by a vendor or by the operator."""
    connect_timeout: float = 5.0
    """Seconds to connect."""
    read_timeout: float = 30.0
    """Seconds allowed between two pieces of the stream (and to the first one)."""
    max_retries: int = 0
    """SDK retries before failing over; 0 because the failover chain is the retry and latency matters."""
    location: str = ""
    """Google Cloud region of a Vertex AI provider with a service account key; empty is `global`."""

    def with_key(self, api_key: str) -> ProviderConfig:
        """The same provider with a tenant's own key."""
        return dataclasses.replace(self, api_key=SecretStr(api_key))

    @property
    def configured(self) -> bool:
        """Whether the provider can be used: a key, or a self-hosted server that needs none."""
        return bool(self.api_key.get_secret_value()) or (self.kind is ProviderKind.SELF_HOSTED and bool(self.base_url))
