"""OpenAI Chat Completions streaming through the official SDK; with base_url, any OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from services.ai.providers import errors
from services.ai.providers.base import (
    FinishReason,
    GenerationRequest,
    ProviderConfig,
    ProviderEvent,
    ProviderKind,
    TextDelta,
    UsageReport,
    estimated_usage,
)

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.MAX_TOKENS, "content_filter": FinishReason.CONTENT_FILTER}

MaxTokensField = Literal["max_completion_tokens", "max_tokens"]


class OpenAIProvider:
    """Answers with `chat.completions.create(stream=True)`; serves vLLM, Ollama or llama.cpp through base_url."""

    def __init__(self, config: ProviderConfig, *, max_tokens_field: MaxTokensField | None = None) -> None:
        self._config = config
        # OpenAI's newer models accept only max_completion_tokens; many compatible servers know only max_tokens.
        self._max_tokens_field: MaxTokensField = max_tokens_field or (
            "max_tokens" if config.kind is ProviderKind.SELF_HOSTED else "max_completion_tokens"
        )
        self._client = openai.AsyncOpenAI(
            # Self-hosted servers often need no key, but the SDK refuses to start without one.
            api_key=config.api_key.get_secret_value() or "unused",
            base_url=config.base_url,
            timeout=openai.Timeout(config.read_timeout, connect=config.connect_timeout),
            max_retries=config.max_retries,
        )

    @property
    def id(self) -> str:
        """Provider id from the config, "openai" or an operator's name for a compatible server."""
        return self._config.id

    def __repr__(self) -> str:
        return f"OpenAIProvider(id={self.id!r}, base_url={self._config.base_url!r})"

    async def aclose(self) -> None:
        """Closes the SDK's connection pool."""
        await self._client.close()

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Streams the answer's deltas, then the usage the server reported in its last chunk."""
        model = request.model or self._config.default_model
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": request.system}]
        for message in request.messages:
            if message.role == "user":
                messages.append({"role": "user", "content": message.content})
            else:
                messages.append({"role": "assistant", "content": message.content})
        use_max_tokens = self._max_tokens_field == "max_tokens"
        partial: list[str] = []
        try:
            response = await self._client.chat.completions.create(
                model=model,
                # The messages are already in wire form; given as `messages` the SDK would walk each one against
                # its TypedDict unions first (measured: ~9 % of the AI service's CPU under load). `extra_body`
                # is sent as given and replaces the empty list.
                messages=[],
                extra_body={"messages": messages},
                stream=True,
                stream_options={"include_usage": True},
                temperature=openai.omit if request.temperature is None else request.temperature,
                max_tokens=request.max_output_tokens if use_max_tokens else openai.omit,
                max_completion_tokens=openai.omit if use_max_tokens else request.max_output_tokens,
            )
        except openai.APIError as exc:
            raise self._error(exc, partial) from None
        usage: openai.types.CompletionUsage | None = None
        finish: str | None = None
        try:
            async for chunk in response:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        partial.append(choice.delta.content)
                        yield TextDelta(choice.delta.content)
                    finish = choice.finish_reason or finish
        except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
            raise self._error(exc, partial) from None
        finally:
            await response.close()
        finish_reason = _FINISH.get(finish or "stop", FinishReason.STOP)
        if usage is None:
            # Some compatible servers ignore stream_options; an estimate beats losing a finished answer.
            yield estimated_usage(self.id, model, request, "".join(partial), finish_reason)
            return
        yield UsageReport(
            provider=self.id,
            model=model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            finish_reason=finish_reason,
        )

    def _error(self, exc: Exception, partial: list[str]) -> errors.ProviderError:
        status: int | None = None
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            reason = errors.reason_for_status(status)
            message = f"HTTP {status}: {exc.message}"
        elif isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            reason, message = errors.REASON_TIMEOUT, "timed out"
        elif isinstance(exc, (openai.APIConnectionError, httpx2.HTTPError)):
            reason, message = errors.REASON_UNAVAILABLE, f"connection failed: {type(exc).__name__}"
        elif isinstance(exc, openai.APIError):
            reason, message = errors.REASON_UNAVAILABLE, f"error event in the stream: {exc.message}"
        else:
            reason, message = errors.REASON_MALFORMED, f"unreadable event in the stream: {exc}"
        message = errors.redact(message, self._config.api_key.get_secret_value())
        return errors.failure(self.id, reason, message, partial, status_code=status)
