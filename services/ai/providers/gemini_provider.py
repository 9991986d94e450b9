"""Gemini streamGenerateContent (alt=sse) through the official google-genai SDK: the Gemini API or Vertex AI.

The provider id `vertex` is Google Vertex AI, the same SDK with `vertexai=True`. Its key is either a Vertex AI
API key (express mode) or a service account key (the JSON file Google Cloud issues), whose project it runs in,
in the config's region; the SDK exchanges the service account key for short-lived access tokens (google-auth).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
from google import genai
from google.auth import exceptions as auth_errors
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2 import service_account

from services.ai.providers import errors
from services.ai.providers.base import (
    FinishReason,
    GenerationRequest,
    ProviderConfig,
    ProviderEvent,
    TextDelta,
    UsageReport,
)

#: Request header that tags a stream's HTTP request so its response can be closed; stripped before sending.
_STREAM_TAG = "x-avatarchat-stream"
VERTEX_ID = "vertex"
_CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: The fields of a service account key file that Vertex AI needs.
_SERVICE_ACCOUNT_FIELDS = ("project_id", "private_key", "client_email", "token_uri")

_FINISH = {
    types.FinishReason.STOP: FinishReason.STOP,
    types.FinishReason.MAX_TOKENS: FinishReason.MAX_TOKENS,
    types.FinishReason.SAFETY: FinishReason.CONTENT_FILTER,
    types.FinishReason.RECITATION: FinishReason.CONTENT_FILTER,
    types.FinishReason.BLOCKLIST: FinishReason.CONTENT_FILTER,
    types.FinishReason.PROHIBITED_CONTENT: FinishReason.CONTENT_FILTER,
    types.FinishReason.SPII: FinishReason.CONTENT_FILTER,
}


class GeminiProvider:
    """Answers with `aio.models.generate_content_stream`; usage from the last chunk's usageMetadata.

    The SDK runs on an httpx2 client of ours for two reasons: with aiohttp installed the SDK would pick it and
    subclass its session (a DeprecationWarning), and the SDK's nested generators do not close the HTTP response
    when the consumer stops. The client's event hooks remember each stream's response so `stream()` can close it
    itself, which ends the upstream request at once on aclose or cancellation.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._config = config
        self._open: dict[str, httpx2.Response] = {}
        self._http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(config.read_timeout, connect=config.connect_timeout),
            event_hooks={"request": [self._untag], "response": [self._remember]},
        )
        self._client = genai.Client(
            **_credentials(config),
            http_options=types.HttpOptions(
                base_url=config.base_url,
                # v1beta is where the Gemini API documents systemInstruction for streamGenerateContent; Vertex AI
                # keeps the SDK's own (v1beta1).
                api_version=None if config.id == VERTEX_ID else "v1beta",
                timeout=int(config.read_timeout * 1000),
                httpx_async_client=self._http,
                retry_options=types.HttpRetryOptions(attempts=config.max_retries + 1),
            ),
        )

    @property
    def id(self) -> str:
        """Provider id from the config, normally "gemini"."""
        return self._config.id

    def __repr__(self) -> str:
        return f"GeminiProvider(id={self.id!r}, base_url={self._config.base_url!r})"

    async def aclose(self) -> None:
        """Closes the HTTP client."""
        await self._http.aclose()

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Streams the candidate's text parts, then the usage of the last chunk (prompt, candidates + thoughts)."""
        model = request.model or self._config.default_model
        tag = uuid.uuid4().hex
        contents = [
            types.Content(role="user" if m.role == "user" else "model", parts=[types.Part(text=m.content)])
            for m in request.messages
        ]
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            http_options=types.HttpOptions(headers={_STREAM_TAG: tag}),
        )
        partial: list[str] = []
        usage: types.GenerateContentResponseUsageMetadata | None = None
        finish: types.FinishReason | None = None
        chunks: AsyncIterator[types.GenerateContentResponse] | None = None
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            async for chunk in chunks:
                model = chunk.model_version or model
                usage = chunk.usage_metadata or usage
                for candidate in (chunk.candidates or [])[:1]:
                    finish = candidate.finish_reason or finish
                    parts = candidate.content.parts if candidate.content else None
                    for part in parts or []:
                        if part.text and not part.thought:
                            partial.append(part.text)
                            yield TextDelta(part.text)
        except (
            genai_errors.APIError,
            genai_errors.ContinuationInterruptedError,
            auth_errors.GoogleAuthError,
            httpx2.HTTPError,
            ValueError,
        ) as exc:
            raise self._error(exc, partial) from None
        finally:
            response = self._open.pop(tag, None)
            if response is not None:
                await response.aclose()
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()
        if usage is None or usage.prompt_token_count is None:
            raise errors.failure(self.id, errors.REASON_MALFORMED, "the stream had no usageMetadata", partial)
        yield UsageReport(
            provider=self.id,
            model=model,
            input_tokens=usage.prompt_token_count,
            output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
            finish_reason=_FINISH.get(finish, FinishReason.STOP) if finish else FinishReason.STOP,
        )

    async def _untag(self, request: httpx2.Request) -> None:
        tag = request.headers.pop(_STREAM_TAG, None)
        if tag:
            request.extensions["avatarchat_stream"] = tag

    async def _remember(self, response: httpx2.Response) -> None:
        tag = response.request.extensions.get("avatarchat_stream")
        if isinstance(tag, str):
            self._open[tag] = response

    def _error(self, exc: Exception, partial: list[str]) -> errors.ProviderError:
        status: int | None = None
        if isinstance(exc, genai_errors.APIError):
            status = exc.code if isinstance(exc.code, int) else None
            reason = errors.reason_for_status(status or 500)
            message = f"HTTP {status} {exc.status or ''}: {exc.message or ''}".replace(" :", ":")
        elif isinstance(exc, auth_errors.GoogleAuthError):
            # The token endpoint's answer may quote the request; the reason is enough to act on.
            reason, message = errors.REASON_AUTH, f"no access token for the service account: {type(exc).__name__}"
        elif isinstance(exc, httpx2.TimeoutException):
            reason, message = errors.REASON_TIMEOUT, "timed out"
        elif isinstance(exc, (httpx2.HTTPError, genai_errors.ContinuationInterruptedError)):
            reason, message = errors.REASON_UNAVAILABLE, f"connection failed: {type(exc).__name__}"
        else:
            reason, message = errors.REASON_MALFORMED, "unreadable event in the stream"
        message = errors.redact(message, self._config.api_key.get_secret_value())
        return errors.failure(self.id, reason, message, partial, status_code=status)


def service_account_info(key: str) -> dict[str, Any] | None:
    """The service account key file a Vertex AI key holds, or None for an API key; ValueError names what is wrong."""
    if not key.lstrip().startswith("{"):
        return None
    try:
        info: dict[str, Any] = json.loads(key)
    except json.JSONDecodeError:
        raise ValueError("a Vertex AI service account key must be the key file's JSON") from None
    if (
        not isinstance(info, dict)
        or info.get("type") != "service_account"
        or not all(info.get(f) for f in _SERVICE_ACCOUNT_FIELDS)
    ):
        raise ValueError(
            "a Vertex AI service account key needs type service_account and " + ", ".join(_SERVICE_ACCOUNT_FIELDS)
        )
    return info


def _credentials(config: ProviderConfig) -> dict[str, Any]:
    """The SDK's authentication arguments: a Gemini API key, a Vertex AI API key, or a service account."""
    # A key is always passed: with none the SDK would read GOOGLE_API_KEY (or Google's default credentials).
    key = config.api_key.get_secret_value() or "unused"
    if config.id != VERTEX_ID:
        return {"api_key": key}
    info = service_account_info(key)
    if info is None:
        return {"vertexai": True, "api_key": key}
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=[_CLOUD_PLATFORM_SCOPE]
    )
    return {
        "vertexai": True,
        "credentials": credentials,
        "project": info["project_id"],
        "location": config.location or "global",
    }
