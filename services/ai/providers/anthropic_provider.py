"""Anthropic Messages streaming through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anthropic
import httpx2
from anthropic.types import MessageParam

from services.ai.providers import errors
from services.ai.providers.base import (
    CONNECTION_LIMITS,
    FinishReason,
    GenerationRequest,
    ProviderConfig,
    ProviderEvent,
    TextDelta,
    UsageReport,
)

_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.MAX_TOKENS,
    "model_context_window_exceeded": FinishReason.MAX_TOKENS,
    "refusal": FinishReason.CONTENT_FILTER,
}


class AnthropicProvider:
    """Answers with `messages.create(stream=True)`; usage comes from message_start and message_delta.

    The Messages API of this SDK generation takes no temperature, so a preference's temperature is not sent.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._config = config
        timeout = anthropic.Timeout(config.read_timeout, connect=config.connect_timeout)
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key.get_secret_value(),
            base_url=config.base_url,
            timeout=timeout,
            max_retries=config.max_retries,
            # The SDK's aiohttp transport, as for OpenAI (see openai_provider): far less CPU per streamed answer.
            http_client=anthropic.DefaultAioHttpClient(timeout=timeout, limits=CONNECTION_LIMITS),
        )

    @property
    def id(self) -> str:
        """Provider id from the config, normally "anthropic"."""
        return self._config.id

    def __repr__(self) -> str:
        return f"AnthropicProvider(id={self.id!r}, base_url={self._config.base_url!r})"

    async def aclose(self) -> None:
        """Closes the SDK's connection pool."""
        await self._client.close()

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Streams text_delta pieces, then input tokens from message_start and output tokens from message_delta."""
        model = request.model or self._config.default_model
        messages: list[MessageParam] = []
        for message in request.messages:
            if message.role == "user":
                messages.append({"role": "user", "content": message.content})
            else:
                messages.append({"role": "assistant", "content": message.content})
        partial: list[str] = []
        try:
            response = await self._client.messages.create(
                model=model,
                system=request.system,
                messages=messages,
                max_tokens=request.max_output_tokens,
                stream=True,
            )
        except anthropic.APIError as exc:
            raise self._error(exc, partial) from None
        input_tokens: int | None = None
        output_tokens = 0
        stop_reason: str | None = None
        try:
            async for event in response:
                if event.type == "message_start":
                    model = _text(event.message.model, "message.model") or model
                    input_tokens = _tokens(event.message.usage.input_tokens, "message.usage.input_tokens")
                    output_tokens = _tokens(event.message.usage.output_tokens, "message.usage.output_tokens")
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    piece = _text(event.delta.text, "delta.text")
                    if piece:
                        partial.append(piece)
                        yield TextDelta(piece)
                elif event.type == "message_delta":
                    # message_delta's output count is cumulative; input may be restated there too.
                    output_tokens = _tokens(event.usage.output_tokens, "usage.output_tokens")
                    restated = event.usage.input_tokens
                    input_tokens = _tokens(restated, "usage.input_tokens") if restated else input_tokens
                    stop_reason = event.delta.stop_reason or stop_reason
        # The SDK builds events from the JSON without validating it: a field of the wrong shape only fails where it is
        # read, as AttributeError or as the ValueError of _text and _tokens.
        except (anthropic.APIError, httpx2.HTTPError, ValueError, AttributeError) as exc:
            raise self._error(exc, partial) from None
        finally:
            await response.close()
        if input_tokens is None:
            raise errors.failure(self.id, errors.REASON_MALFORMED, "the stream had no message_start event", partial)
        yield UsageReport(
            provider=self.id,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=_FINISH.get(stop_reason or "end_turn", FinishReason.STOP),
        )

    def _error(self, exc: Exception, partial: list[str]) -> errors.ProviderError:
        status: int | None = None
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            error_type = _error_type(exc.body)
            # A mid-stream `event: error` arrives on a 200 response; its type says what went wrong.
            reason = errors.REASON_OVERLOADED if error_type == "overloaded_error" else errors.reason_for_status(status)
            if error_type == "rate_limit_error":
                reason = errors.REASON_RATE_LIMITED
            message = f"HTTP {status} {error_type or ''}: {_error_message(exc.body) or exc.message}".replace(" :", ":")
        elif isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)) and errors.timed_out(exc):
            reason, message = errors.REASON_TIMEOUT, "timed out"
        elif isinstance(exc, (anthropic.APIConnectionError, httpx2.HTTPError)):
            reason, message = errors.REASON_UNAVAILABLE, f"connection failed: {type(exc).__name__}"
        elif isinstance(exc, anthropic.APIError):
            reason, message = errors.REASON_UNAVAILABLE, exc.message
        else:
            reason, message = errors.REASON_MALFORMED, f"unreadable event in the stream: {exc}"
        message = errors.redact(message, self._config.api_key.get_secret_value())
        return errors.failure(self.id, reason, message, partial, status_code=status)


def _error_type(body: object) -> str:
    """The `error.type` of an Anthropic error body, e.g. "overloaded_error"."""
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else ""


def _error_message(body: object) -> str:
    """The `error.message` of an Anthropic error body."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def _text(value: object, field: str) -> str | None:
    """A string field of an event, or None; anything else is a malformed event."""
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{field} must be a string, got {type(value).__name__}")


def _tokens(value: object, field: str) -> int:
    """A token count of an event."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{field} must be an integer, got {type(value).__name__}")
