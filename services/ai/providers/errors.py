"""Provider failures, split by whether any text reached the visitor (failover is safe only before)."""

from __future__ import annotations

import re

import aiohttp

_MASKED = re.compile(r"\S*\*{3,}\S*")


class ProviderError(Exception):
    """A provider could not produce (all of) an answer."""

    def __init__(self, provider: str, reason: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.reason = reason
        self.message = message
        self.status_code = status_code


class ProviderUnavailable(ProviderError):
    """The provider failed before its first token; the next provider may answer instead."""


class ProviderStreamError(ProviderError):
    """The provider failed after its first token; partial_text is what it had produced."""

    def __init__(
        self, provider: str, reason: str, message: str, *, partial_text: str, status_code: int | None = None
    ) -> None:
        super().__init__(provider, reason, message, status_code=status_code)
        self.partial_text = partial_text


class AllProvidersFailed(ProviderUnavailable):
    """Every provider of the chain failed before its first token."""

    def __init__(self, failures: tuple[ProviderError, ...]) -> None:
        tried = ", ".join(f"{f.provider} ({f.reason})" for f in failures) or "none"
        super().__init__("failover", "ALL_PROVIDERS_FAILED", f"no provider could answer; tried {tried}")
        self.failures = failures


#: Error reasons (google.rpc.ErrorInfo style) a provider failure is reported with.
REASON_AUTH = "PROVIDER_AUTH_FAILED"
REASON_RATE_LIMITED = "PROVIDER_RATE_LIMITED"
REASON_OVERLOADED = "PROVIDER_OVERLOADED"
REASON_BAD_REQUEST = "PROVIDER_BAD_REQUEST"
REASON_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
REASON_TIMEOUT = "PROVIDER_TIMEOUT"
REASON_MALFORMED = "PROVIDER_MALFORMED_STREAM"


def timed_out(exc: BaseException) -> bool:
    """Whether a transport error the SDKs report as a timeout really is one.

    The SDKs' aiohttp transport maps every `ClientConnectionError` to a connect timeout, so a refused or
    unreachable server would read as "timed out"; its `ClientConnectorError` cause tells them apart.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def reason_for_status(status: int) -> str:
    """Maps an HTTP status of a provider's API to an error reason."""
    if status in (401, 403):
        return REASON_AUTH
    if status == 429:
        return REASON_RATE_LIMITED
    if status == 529:
        return REASON_OVERLOADED
    if status in (408, 504):
        return REASON_TIMEOUT
    if 400 <= status < 500:
        return REASON_BAD_REQUEST
    return REASON_UNAVAILABLE


def failure(
    provider: str, reason: str, message: str, partial: list[str], *, status_code: int | None = None
) -> ProviderError:
    """The right error for a failure: unavailable before any text, a stream error after."""
    if not partial:
        return ProviderUnavailable(provider, reason, message, status_code=status_code)
    return ProviderStreamError(provider, reason, message, partial_text="".join(partial), status_code=status_code)


def redact(message: str, secret: str) -> str:
    """Removes a key from a provider's error message; some APIs echo it back, whole or masked."""
    if secret:
        message = message.replace(secret, "[redacted]")
    # OpenAI echoes keys masked as 'sk-abc*****wxyz': the visible ends are a key's fingerprint too.
    return _MASKED.sub("[redacted]", message)
