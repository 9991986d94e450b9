"""Tries a bot's providers in order: failures before the first token fail over, later ones end the stream."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from avatarchat.chatbot.v1 import chatbot_pb2
from services.ai.providers.base import GenerationRequest, Provider, TextDelta, UsageReport
from services.ai.providers.errors import (
    REASON_TIMEOUT,
    AllProvidersFailed,
    ProviderError,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One provider of the chain, with the model and temperature the bot prefers for it."""

    provider: Provider
    model: str = ""
    """Empty means the provider's default model."""
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The last event of a stream that broke after text was sent (ai.v1 StreamError)."""

    provider: str
    code: str
    """Canonical gRPC status code name."""
    reason: str
    """UPPER_SNAKE reason, as in google.rpc.ErrorInfo."""
    message: str
    partial_text: str


FailoverEvent = TextDelta | UsageReport | StreamFailed
# Visitors see this; the provider's own words (which may name models, quotas or accounts) stay in the log.
_PUBLIC_MESSAGE = "The answer was interrupted. Please try again."


def provider_chain(
    preferences: Iterable[chatbot_pb2.ProviderPreference], available: Mapping[str, Provider], offline: Provider
) -> list[Attempt]:
    """The bot's preferred providers that are configured, in order, and the offline provider last, once."""
    chain: list[Attempt] = []
    for preference in preferences:
        provider = available.get(preference.provider)
        if provider is None or provider.id == offline.id:
            continue
        # proto3 cannot tell an unset temperature from 0; 0 is a legitimate choice, so it is sent as given.
        chain.append(Attempt(provider, preference.model, preference.temperature))
    chain.append(Attempt(offline))
    return chain


async def stream_with_failover(
    request: GenerationRequest, attempts: Sequence[Attempt], *, first_token_timeout: float | None = 20.0
) -> AsyncGenerator[FailoverEvent, None]:
    """Streams the first provider that produces a token; raises AllProvidersFailed if none does.

    Closing this generator (aclose, or cancelling the consuming task) closes the active provider's stream, which
    closes its HTTP response. `first_token_timeout` bounds each provider's wait for its first token.
    """
    failures: list[ProviderError] = []
    started = time.monotonic()
    for attempt in attempts:
        attempt_request = dataclasses.replace(
            request, model=attempt.model or request.model, temperature=attempt.temperature
        )
        provider_id = attempt.provider.id
        sent: list[str] = []
        try:
            async with aclosing(attempt.provider.stream(attempt_request)) as events:
                event: TextDelta | UsageReport | None = await _first_event(events, provider_id, first_token_timeout)
                latency = time.monotonic() - started
                while event is not None:
                    if isinstance(event, UsageReport):
                        event = dataclasses.replace(event, first_token_latency=latency)
                    else:
                        sent.append(event.text)
                    yield event
                    event = await anext(events, None)
                return
        except ProviderError as exc:
            if sent:
                # Text has reached the visitor: another provider would start a different answer over it.
                log.warning("provider %s failed mid-answer: %s (%s)", provider_id, exc.reason, exc.message)
                yield StreamFailed(provider_id, _code(exc.reason), exc.reason, _PUBLIC_MESSAGE, "".join(sent))
                return
            log.warning("provider %s unavailable, failing over: %s (%s)", provider_id, exc.reason, exc.message)
            failures.append(exc)
    raise AllProvidersFailed(tuple(failures))


async def _first_event(
    events: AsyncGenerator[TextDelta | UsageReport, None], provider: str, seconds: float | None
) -> TextDelta | UsageReport:
    try:
        async with asyncio.timeout(seconds):
            first = await anext(events, None)
    except TimeoutError:
        raise ProviderUnavailable(provider, REASON_TIMEOUT, f"no first token within {seconds} s") from None
    if first is None:
        raise ProviderUnavailable(provider, "PROVIDER_EMPTY_STREAM", "the stream ended without an event")
    return first


def _code(reason: str) -> str:
    return "DEADLINE_EXCEEDED" if reason == REASON_TIMEOUT else "UNAVAILABLE"
