"""Tenants' own provider keys over gRPC: used instead of the platform key, sealed, never returned or logged."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.policy.v1 import policy_pb2
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.errors_assert import expect_error
from tests.services.ai.conftest import StartServer
from tests.services.ai.wire import WireServer
from tests.services.ai.wire_formats import anthropic_stream, openai_error, openai_stream
from tests.services.auth.conftest import add_user
from tests.services.conftest import Account, Stack
from tests.services.conversation.helpers import create_bot, visitor
from tests.services.conversation.platform_env import PLATFORM_KEY, LocalPlatform, _clear_routes, local

__all__ = ["_clear_routes", "local"]
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED


def tenant_key() -> str:
    """A fresh key in OpenAI's shape, unique per test so a leak is traceable."""
    return "sk-tenant-" + secrets.token_urlsafe(32)


def cred(account: Account, provider: str) -> str:
    """The credential name of one provider of the account's tenant."""
    return f"{account.tenant}/providerCredentials/{provider}"


async def openai_bot(stack: Stack, account: Account, provider: str = "openai") -> chatbot_pb2.Chatbot:
    """A bot that prefers `provider`, so its answers go through that provider's client."""
    prefs = [chatbot_pb2.ProviderPreference(provider=provider)]
    return await create_bot(stack, account, personality=chatbot_pb2.Personality(providers=prefs))


async def ask(ai: ai_pb2_grpc.AiServiceAsyncStub, account: Account, bot: str, text: str) -> ai_pb2.Usage:
    """One answer (a fresh question each time, so the answer cache never serves it); returns its usage."""
    response = await ai.GenerateResponse(
        ai_pb2.GenerateResponseRequest(chatbot=bot, message=f"{text} ({uuid.uuid4().hex[:6]})"),
        metadata=account.metadata,
    )
    return response.usage


def error_bytes(exc: grpc.aio.AioRpcError) -> bytes:
    """Everything an error answer carries back: the message and the binary status details."""
    trailers = b"".join(v if isinstance(v, bytes) else v.encode() for _, v in exc.trailing_metadata() or ())
    return (exc.details() or "").encode() + trailers


async def own_openai_server(serve: StartServer, answer: str = "Tenant-paid answer.") -> WireServer:
    """The tenant's own OpenAI-compatible server, answering every request."""
    return await serve(openai_stream([answer], prompt_tokens=11, completion_tokens=3))


async def test_tenant_key_and_base_url_replace_the_platform_key_and_delete_falls_back(
    stack: Stack, local: LocalPlatform, serve: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = await stack.new_tenant("keys")
    bot = (await openai_bot(stack, account)).name
    local.gateway.routes["openai"] = openai_stream(["Platform answer."])
    own = await own_openai_server(serve)
    key = tenant_key()

    before = await ask(local.ai, account, bot, "Hello?")
    assert before.provider == "openai"
    assert local.gateway.exchanges("openai")[-1].headers["authorization"] == f"Bearer {PLATFORM_KEY}"

    set_response = await local.ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(name=cred(account, "openai"), api_key=key, base_url=f"{own.url}/v1"),
        metadata=account.metadata,
    )
    credential = set_response.provider_credential
    assert (credential.name, credential.provider, credential.base_url, credential.update_user) == (
        cred(account, "openai"),
        "openai",
        f"{own.url}/v1",
        account.owner,
    )
    assert credential.create_time.seconds > 0
    assert credential.update_time.ToDatetime() >= credential.create_time.ToDatetime()

    platform_calls = len(local.gateway.exchanges("openai"))
    during = await ask(local.ai, account, bot, "Hello again?")
    assert during.provider == "openai"
    assert [e.headers["authorization"] for e in own.exchanges] == [f"Bearer {key}"]
    assert own.exchanges[0].path == "/v1/chat/completions"
    # A tenant's own compatible server is sent max_tokens, which such servers understand.
    assert "max_tokens" in own.exchanges[0].json()
    assert len(local.gateway.exchanges("openai")) == platform_calls

    listed = await local.ai.ListProviderCredentials(
        ai_pb2.ListProviderCredentialsRequest(parent=account.tenant), metadata=account.metadata
    )
    assert list(listed.provider_credentials) == [credential]
    deleted = await local.ai.DeleteProviderCredential(
        ai_pb2.DeleteProviderCredentialRequest(name=cred(account, "openai")), metadata=account.metadata
    )

    after = await ask(local.ai, account, bot, "And now?")
    assert after.provider == "openai"
    assert local.gateway.exchanges("openai")[-1].headers["authorization"] == f"Bearer {PLATFORM_KEY}"
    assert len(own.exchanges) == 1
    missing = await expect_error(
        local.ai.DeleteProviderCredential(
            ai_pb2.DeleteProviderCredentialRequest(name=cred(account, "openai")), metadata=account.metadata
        ),
        NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )
    empty = await local.ai.ListProviderCredentials(
        ai_pb2.ListProviderCredentialsRequest(parent=account.tenant), metadata=account.metadata
    )
    assert not empty.provider_credentials

    answers = [set_response, listed, deleted, empty]
    leaked = [type(r).__name__ for r in answers if key.encode() in r.SerializeToString()]
    assert not leaked
    assert key.encode() not in error_bytes(missing)
    assert key not in caplog.text
    assert not [r for r in caplog.records if key in repr(r.__dict__)]


async def test_anthropic_key_without_base_url_goes_to_the_platform_endpoint_and_a_new_key_wins_at_once(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("anth")
    bot = (await openai_bot(stack, account, "anthropic")).name
    local.gateway.routes["anthropic"] = anthropic_stream(["Claude ", "here."])
    first, second = tenant_key(), tenant_key()

    await ask(local.ai, account, bot, "Hi?")
    for key in (first, second):
        response = await local.ai.SetProviderCredential(
            ai_pb2.SetProviderCredentialRequest(name=cred(account, "anthropic"), api_key=key),
            metadata=account.metadata,
        )
        assert response.provider_credential.base_url == ""
        usage = await ask(local.ai, account, bot, "Who are you?")
        assert usage.provider == "anthropic"

    # This generation of the anthropic SDK sends the API key as a bearer token (older ones used x-api-key).
    sent = [e.headers["authorization"] for e in local.gateway.exchanges("anthropic")[-3:]]
    assert sent == [f"Bearer {k}" for k in (PLATFORM_KEY, first, second)]
    await local.ai.DeleteProviderCredential(
        ai_pb2.DeleteProviderCredentialRequest(name=cred(account, "anthropic")), metadata=account.metadata
    )


async def test_a_change_reaches_the_next_message_of_another_ai_process(
    stack: Stack, local: LocalPlatform, serve: StartServer
) -> None:
    # The stack's AI service is a second process on the same database and Redis, with no OpenAI configured.
    other_process = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    account = await stack.new_tenant("procs")
    bot = (await openai_bot(stack, account)).name
    own = await own_openai_server(serve)
    key = tenant_key()
    assert (await ask(other_process, account, bot, "Warm the cache?")).provider == "offline"

    await local.ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(name=cred(account, "openai"), api_key=key, base_url=f"{own.url}/v1"),
        metadata=account.metadata,
    )
    # The other process hears of the change by Redis message, delivered long before this next request reaches it.
    assert (await ask(other_process, account, bot, "Now with a key?")).provider == "openai"
    assert [e.headers["authorization"] for e in own.exchanges] == [f"Bearer {key}"]

    await local.ai.DeleteProviderCredential(
        ai_pb2.DeleteProviderCredentialRequest(name=cred(account, "openai")), metadata=account.metadata
    )
    assert (await ask(other_process, account, bot, "And without?")).provider == "offline"
    assert len(own.exchanges) == 1


async def test_a_provider_error_quoting_the_key_is_redacted_from_logs_and_answers(
    stack: Stack, local: LocalPlatform, serve: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = await stack.new_tenant("leak")
    bot = (await openai_bot(stack, account)).name
    key = tenant_key()
    refusing = await serve(openai_error(401, f"Incorrect API key provided: {key}.", "invalid_request_error"))
    await local.ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(name=cred(account, "openai"), api_key=key, base_url=refusing.url),
        metadata=account.metadata,
    )

    response = await local.ai.GenerateResponse(
        ai_pb2.GenerateResponseRequest(chatbot=bot, message="Are you there?"), metadata=account.metadata
    )

    assert refusing.exchanges[0].headers["authorization"] == f"Bearer {key}"
    assert response.usage.provider == "offline"  # failed over before the first token
    assert key.encode() not in response.SerializeToString()
    assert "provider openai unavailable" in caplog.text
    assert key not in caplog.text
    assert not [r for r in caplog.records if key in repr(r.__dict__)]


async def test_another_tenant_can_neither_see_change_nor_use_a_credential(
    stack: Stack, local: LocalPlatform, serve: StartServer
) -> None:
    a = await stack.new_tenant("own-a")
    b = await stack.new_tenant("oth-b")
    own = await own_openai_server(serve)
    key = tenant_key()
    original = (
        await local.ai.SetProviderCredential(
            ai_pb2.SetProviderCredentialRequest(name=cred(a, "openai"), api_key=key, base_url=f"{own.url}/v1"),
            metadata=a.metadata,
        )
    ).provider_credential
    md = b.metadata  # b's owner reaching for a's credential
    calls: dict[str, Awaitable[Any]] = {
        "SetProviderCredential": local.ai.SetProviderCredential(
            ai_pb2.SetProviderCredentialRequest(name=cred(a, "openai"), api_key=tenant_key()), metadata=md
        ),
        "ListProviderCredentials": local.ai.ListProviderCredentials(
            ai_pb2.ListProviderCredentialsRequest(parent=a.tenant), metadata=md
        ),
        "DeleteProviderCredential": local.ai.DeleteProviderCredential(
            ai_pb2.DeleteProviderCredentialRequest(name=cred(a, "openai")), metadata=md
        ),
    }
    rpcs = {m.name for m in ai_pb2.DESCRIPTOR.services_by_name["AiService"].methods}
    assert {r for r in rpcs if "ProviderCredential" in r} == set(calls)
    for rpc, call in calls.items():
        try:
            exc = await expect_error(call, NOT_FOUND, "RESOURCE_NOT_FOUND")
        except (AssertionError, pytest.fail.Exception) as failure:
            raise AssertionError(f"{rpc}: {failure}") from None
        assert key.encode() not in error_bytes(exc)

    listed = await local.ai.ListProviderCredentials(
        ai_pb2.ListProviderCredentialsRequest(parent=a.tenant), metadata=a.metadata
    )
    assert list(listed.provider_credentials) == [original]
    b_sees = await local.ai.ListProviderCredentials(ai_pb2.ListProviderCredentialsRequest(parent=b.tenant), metadata=md)
    assert not b_sees.provider_credentials
    local.gateway.routes["openai"] = openai_stream(["Platform answer."])
    b_bot = (await openai_bot(stack, b)).name
    assert (await ask(local.ai, b, b_bot, "Whose key?")).provider == "openai"
    assert local.gateway.exchanges("openai")[-1].headers["authorization"] == f"Bearer {PLATFORM_KEY}"
    assert not own.exchanges


async def test_only_owners_and_admins_may_manage_credentials(
    stack: Stack, local: LocalPlatform, serve: StartServer
) -> None:
    account = await stack.new_tenant("roles", plan="plans/pro")
    member = await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    admin = await add_user(stack, account, policy_pb2.ROLE_ADMIN)
    bot = await create_bot(stack, account)
    visitor_md = await visitor(stack, bot.name)
    name = cred(account, "gemini")

    def calls(md: tuple[tuple[str, str], ...]) -> dict[str, Awaitable[Any]]:
        return {
            "Set": local.ai.SetProviderCredential(
                ai_pb2.SetProviderCredentialRequest(name=name, api_key=tenant_key()), metadata=md
            ),
            "List": local.ai.ListProviderCredentials(
                ai_pb2.ListProviderCredentialsRequest(parent=account.tenant), metadata=md
            ),
            "Delete": local.ai.DeleteProviderCredential(ai_pb2.DeleteProviderCredentialRequest(name=name), metadata=md),
        }

    for who, md in (("member", member.metadata), ("visitor", visitor_md)):
        for rpc, call in calls(md).items():
            try:
                await expect_error(call, DENIED, "PERMISSION_DENIED")
            except (AssertionError, pytest.fail.Exception) as failure:
                raise AssertionError(f"{who} {rpc}: {failure}") from None

    made = await local.ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(name=name, api_key=tenant_key()), metadata=admin.metadata
    )
    assert made.provider_credential.update_user == admin.name
    await local.ai.DeleteProviderCredential(ai_pb2.DeleteProviderCredentialRequest(name=name), metadata=admin.metadata)


BAD_INPUT = [
    ("empty key", "openai", "", "", {"api_key"}),
    ("oversized key", "openai", "sk-" + "x" * 1100, "", {"api_key"}),
    ("key with a line break", "openai", "sk-abc\nInjected: header", "", {"api_key"}),
    ("unknown provider", "mistral", "sk-valid-key", "", {"name"}),
    ("provider id in capitals", "OpenAI", "sk-valid-key", "", {"name"}),
    ("not a URL", "openai", "sk-valid-key", "localhost:11434", {"base_url"}),
    ("ftp URL", "openai", "sk-valid-key", "ftp://models.example/v1", {"base_url"}),
    ("no host", "openai", "sk-valid-key", "https:///v1", {"base_url"}),
    ("bad port", "openai", "sk-valid-key", "http://127.0.0.1:99999/v1", {"base_url"}),
    ("user info", "openai", "sk-valid-key", "https://user:pass@models.example/v1", {"base_url"}),
    ("query", "openai", "sk-valid-key", "https://models.example/v1?key=1", {"base_url"}),
    ("spaces", "openai", "sk-valid-key", "https://models.example/v 1", {"base_url"}),
    ("oversized URL", "openai", "sk-valid-key", "https://models.example/" + "a" * 2100, {"base_url"}),
    ("key and URL both wrong", "anthropic", "", "mailto:x@example.com", {"api_key", "base_url"}),
    # A service account key file names the token endpoint the AI service would call.
    ("vertex service account key", "vertex", '{"token_uri":"http://10.0.0.1/token"}', "", {"api_key"}),
]


@pytest.mark.parametrize(("case", "provider", "key", "base_url", "fields"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_names_the_field_and_stores_nothing(
    stack: Stack, local: LocalPlatform, case: str, provider: str, key: str, base_url: str, fields: set[str]
) -> None:
    account = await stack.new_tenant("bad")
    name = f"{account.tenant}/providerCredentials/{provider}"

    exc = await expect_error(
        local.ai.SetProviderCredential(
            ai_pb2.SetProviderCredentialRequest(name=name, api_key=key, base_url=base_url), metadata=account.metadata
        ),
        INVALID,
        "INVALID_FIELD",
        fields,
    )

    if len(key) > 8:
        assert key.encode() not in error_bytes(exc)
    assert b"user:pass" not in error_bytes(exc)
    listed = await local.ai.ListProviderCredentials(
        ai_pb2.ListProviderCredentialsRequest(parent=account.tenant), metadata=account.metadata
    )
    assert not listed.provider_credentials


async def test_malformed_names_are_invalid_argument(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("names")
    md = account.metadata
    for name in ("", "tenants/not-a-uuid/providerCredentials/openai", f"{account.tenant}/providerKeys/openai"):
        await expect_error(
            local.ai.DeleteProviderCredential(ai_pb2.DeleteProviderCredentialRequest(name=name), metadata=md),
            INVALID,
            "INVALID_FIELD",
            {"name"},
        )
    await expect_error(
        local.ai.ListProviderCredentials(ai_pb2.ListProviderCredentialsRequest(parent="tenants/x"), metadata=md),
        INVALID,
        "INVALID_FIELD",
        {"parent"},
    )


async def test_the_key_is_sealed_at_rest_and_rows_are_isolated_by_tenant(
    stack: Stack, local: LocalPlatform, settings: RuntimeSettings
) -> None:
    a = await stack.new_tenant("rest-a")
    b = await stack.new_tenant("rest-b")
    key = tenant_key()
    await local.ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(name=cred(a, "openai"), api_key=key), metadata=a.metadata
    )
    db = await Database.connect(settings, "ai")
    try:
        async with db.tenant_tx(a.tenant_id) as conn:
            rows = await conn.fetch("SELECT * FROM ai.provider_credentials")
        async with db.tenant_tx(b.tenant_id) as conn:
            seen_by_b = await conn.fetch("SELECT * FROM ai.provider_credentials")
    finally:
        await db.close()
    assert [r["provider"] for r in rows] == ["openai"]
    stored = b"".join(str(v).encode() if not isinstance(v, bytes) else v for v in rows[0].values())
    assert key.encode() not in stored
    assert key.encode()[10:30] not in stored
    assert not seen_by_b


@pytest.mark.parametrize(
    "internal",
    ["http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://169.254.169.254/latest", "http://10.0.0.5/v1"],
)
async def test_a_base_url_on_an_internal_address_is_refused_unless_the_operator_allows_it(
    stack: Stack, internal: str
) -> None:
    # The stack's AI service runs with the default settings: private base URLs are not allowed.
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    account = await stack.new_tenant("ssrf")

    await expect_error(
        ai.SetProviderCredential(
            ai_pb2.SetProviderCredentialRequest(name=cred(account, "openai"), api_key=tenant_key(), base_url=internal),
            metadata=account.metadata,
        ),
        INVALID,
        "INVALID_FIELD",
        {"base_url"},
    )
    public = await ai.SetProviderCredential(
        ai_pb2.SetProviderCredentialRequest(
            name=cred(account, "anthropic"), api_key=tenant_key(), base_url="https://93.184.216.34/v1"
        ),
        metadata=account.metadata,
    )
    listed = await ai.ListProviderCredentials(
        ai_pb2.ListProviderCredentialsRequest(parent=account.tenant), metadata=account.metadata
    )
    assert [c.base_url for c in listed.provider_credentials] == [public.provider_credential.base_url]
