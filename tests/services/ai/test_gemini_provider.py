"""GeminiProvider (google-genai SDK) against local servers speaking streamGenerateContent?alt=sse and Google OAuth."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError

from services.ai.providers import errors
from services.ai.providers.base import FinishReason, ProviderConfig, TextDelta, UsageReport
from services.ai.providers.gemini_provider import VERTEX_ID, GeminiProvider
from services.ai.settings import ProviderSetting
from tests.services.ai.conftest import StartServer, answer_of, failure_of, make_request
from tests.services.ai.wire import Exchange, Handler, Responder
from tests.services.ai.wire_formats import gemini_error, gemini_stream

KEY = "AIza-test-0123456789abcdef"


def provider_for(url: str) -> GeminiProvider:
    config = ProviderConfig(id="gemini", api_key=SecretStr(KEY), base_url=url, default_model="gemini-2.5-flash")
    return GeminiProvider(config)


def vertex_for(url: str, key: str, location: str = "") -> GeminiProvider:
    config = ProviderConfig(
        id=VERTEX_ID, api_key=SecretStr(key), base_url=url, default_model="gemini-2.5-flash", location=location
    )
    return GeminiProvider(config)


@pytest.mark.parametrize(
    ("make", "provider_id", "path"),
    [
        (provider_for, "gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        (
            lambda url: vertex_for(url, KEY),
            "vertex",
            "/v1beta1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
    ],
    ids=["gemini api", "vertex express mode"],
)
async def test_streams_text_and_the_last_usage_metadata(
    serve: StartServer, make: Callable[[str], GeminiProvider], provider_id: str, path: str
) -> None:
    """The Gemini API, and Vertex AI with an API key (express mode): the same stream on each one's path."""
    server = await serve(gemini_stream(["We open ", "at nine."], prompt_tokens=30, finish="STOP"))
    events = await answer_of(make(server.url))

    assert events[:-1] == [TextDelta("We open "), TextDelta("at nine.")]
    assert events[-1] == UsageReport(
        provider=provider_id,
        model="gemini-2.5-flash",
        input_tokens=30,
        output_tokens=2,
        finish_reason=FinishReason.STOP,
    )
    exchange = server.exchanges[0]
    assert exchange.path == path
    assert exchange.headers["x-goog-api-key"] == KEY
    assert "authorization" not in exchange.headers
    # The tag that lets the provider close its own response never leaves the process.
    assert "x-avatarchat-stream" not in exchange.headers
    body = exchange.json()
    assert body["contents"] == [{"parts": [{"text": "When do you open?"}], "role": "user"}]
    assert body["systemInstruction"]["parts"] == [{"text": "You are Ava. Answer from the passages."}]
    assert body["generationConfig"]["maxOutputTokens"] == 200


async def test_safety_finish_is_a_content_filter(serve: StartServer) -> None:
    server = await serve(gemini_stream(["I can't"], finish="SAFETY"))
    provider = provider_for(server.url)
    events = await answer_of(provider)
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.finish_reason is FinishReason.CONTENT_FILTER


@pytest.mark.parametrize(
    ("status", "google_status", "reason"),
    [
        (500, "INTERNAL", errors.REASON_UNAVAILABLE),
        (429, "RESOURCE_EXHAUSTED", errors.REASON_RATE_LIMITED),
        (403, "PERMISSION_DENIED", errors.REASON_AUTH),
    ],
)
async def test_error_bodies_are_unavailable(serve: StartServer, status: int, google_status: str, reason: str) -> None:
    server = await serve(gemini_error(status, google_status, "nope"))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.status_code == status
    assert caught.reason == reason
    assert len(server.exchanges) == 1


async def test_broken_json_after_text_is_a_stream_error(serve: StartServer) -> None:
    server = await serve(gemini_stream(["Hello ", "never"], break_after=1))
    provider = provider_for(server.url)
    caught = await failure_of(provider, errors.ProviderStreamError)
    assert caught.partial_text == "Hello "
    assert caught.reason == errors.REASON_MALFORMED


async def test_closing_the_stream_closes_the_upstream_connection(serve: StartServer) -> None:
    server = await serve(gemini_stream([f"w{i} " for i in range(200)], pace=0.02))
    provider = provider_for(server.url)
    events = provider.stream(make_request())
    assert await anext(events) == TextDelta("w0 ")
    await events.aclose()
    exchange = server.exchanges[0]
    await asyncio.wait_for(exchange.closed_by_client.wait(), 2)
    assert not exchange.finished
    await provider.aclose()


# --- Vertex AI: the same SDK and stream with vertexai=True -------------------------------------------------------

PROJECT = "acme-chat-prod"
CLIENT_EMAIL = f"chat@{PROJECT}.iam.gserviceaccount.com"
ACCESS_TOKEN = "ya29.local-test-token"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SERVICE_ACCOUNT_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class GoogleOAuth:
    """Google's token endpoint at /token (a JWT-bearer grant signed by a service account) before a model stream."""

    stream: Handler
    granted: bool = True
    token_uri: str = ""

    def key_file(self) -> str:
        """The service account key file's JSON, as Google Cloud issues it."""
        pem = SERVICE_ACCOUNT_PRIVATE_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "k1",
                "private_key": pem.decode(),
                "client_email": CLIENT_EMAIL,
                "client_id": "1",
                "token_uri": self.token_uri,
            }
        )

    async def __call__(self, exchange: Exchange, respond: Responder) -> None:
        if exchange.path != "/token":
            await self.stream(exchange, respond)
            return
        form = urllib.parse.parse_qs(exchange.body.decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        # The assertion must be signed with the service account's private key, for Google's token audience (which
        # the grant names whatever the key file's token_uri) and the cloud-platform scope.
        claims = jwt.decode(
            form["assertion"][0],
            SERVICE_ACCOUNT_PRIVATE_KEY.public_key(),
            algorithms=["RS256"],
            audience=GOOGLE_TOKEN_AUDIENCE,
        )
        assert claims["iss"] == CLIENT_EMAIL
        assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
        if not self.granted:
            await respond.json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        await respond.json(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})


async def test_vertex_with_a_service_account_streams_in_its_project_and_region(serve: StartServer) -> None:
    oauth = GoogleOAuth(gemini_stream(["Hello ", "there."]))
    server = await serve(oauth)
    oauth.token_uri = f"{server.url}/token"
    provider = vertex_for(server.url, oauth.key_file(), location="europe-west4")
    # Two answers from one provider: the second is also its last, closing it.
    events = [event async for event in provider.stream(make_request())]
    again = await answer_of(provider)

    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hello "), TextDelta("there.")]
    assert again == events
    stream_path = (
        f"/v1beta1/projects/{PROJECT}/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    # One token serves both answers (it lives an hour).
    assert [e.path for e in server.exchanges] == ["/token", stream_path, stream_path]
    for exchange in server.exchanges[1:]:
        assert exchange.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert "x-goog-api-key" not in exchange.headers


async def test_vertex_refused_a_token_is_an_auth_failure_before_the_first_token(serve: StartServer) -> None:
    oauth = GoogleOAuth(gemini_stream(["never"]), granted=False)
    server = await serve(oauth)
    oauth.token_uri = f"{server.url}/token"
    key = oauth.key_file()
    provider = vertex_for(server.url, key)
    caught = await failure_of(provider, errors.ProviderUnavailable)
    assert caught.reason == errors.REASON_AUTH
    assert [e.path for e in server.exchanges] == ["/token"]
    assert "PRIVATE KEY" not in str(caught)


def test_a_vertex_setting_with_a_broken_service_account_key_fails_at_start_up_without_quoting_it() -> None:
    broken = json.dumps({"type": "service_account", "project_id": PROJECT, "private_key": "-----BEGIN secret"})
    with pytest.raises(ValidationError) as caught:
        ProviderSetting(id=VERTEX_ID, api_key=SecretStr(broken))
    assert "client_email" in str(caught.value)
    assert "BEGIN secret" not in str(caught.value)
    with pytest.raises(ValidationError, match="key file's JSON"):
        ProviderSetting(id=VERTEX_ID, api_key=SecretStr("{not json"))
    # An API key (express mode) and other providers' keys are not read as JSON.
    ProviderSetting(id=VERTEX_ID, api_key=SecretStr(KEY))
    ProviderSetting(id="gemini", api_key=SecretStr("{not json"))
