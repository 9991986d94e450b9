"""Signing keys: JWKS verification by another service, rotation, retirement, encryption at rest, visitor tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection

import asyncpg
import grpc
import jwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization

from avatarchat.auth.v1 import auth_pb2
from avatarchat.policy.v1 import policy_pb2
from services.auth.key_store import SigningKeyStore
from services.auth.keys import KeyCipher, KeyRing
from services.runtime import errors
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.remote_auth import remote_authenticator
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import Authenticator, ServiceTokens
from tests.errors_assert import expect_error
from tests.services.conftest import Stack


@pytest.fixture
async def other_service(stack: Stack) -> AsyncIterator[Authenticator]:
    """What another service authenticates with: JWKS fetched from the running auth server, fresh each test."""
    clients = Clients(stack.settings)
    yield remote_authenticator(clients, ServiceTokens(stack.settings.resolved_internal_secret(), "chatbot"))
    await clients.close()


def kid_of(token: str) -> str:
    """The key id a token names."""
    return str(jwt.get_unverified_header(token)["kid"])


async def published_kids(stack: Stack) -> list[str]:
    """The kids GetJwks publishes now."""
    return [k.kid for k in (await stack.auth.GetJwks(auth_pb2.GetJwksRequest())).keys]


async def wait_for_kids(stack: Stack, present: set[str], absent: Collection[str] = ()) -> list[str]:
    """Polls GetJwks until the server has re-read the keys (it caches them for a second)."""
    kids: list[str] = []
    for _ in range(40):
        kids = await published_kids(stack)
        if present <= set(kids) and not set(absent) & set(kids):
            return kids
        await asyncio.sleep(0.1)
    raise AssertionError(f"JWKS {kids} never had {present} without {absent}")


def replica_ring(settings: RuntimeSettings, db: Database) -> KeyRing:
    """A second key ring on the same database, as another auth replica would hold."""
    return KeyRing(
        SigningKeyStore(db),
        KeyCipher(settings.resolved_internal_secret()),
        rotation_seconds=7 * 24 * 3600,
        publish_seconds=900 + 300,
        cache_seconds=30,
    )


async def test_jwks_shape(stack: Stack) -> None:
    keys = (await stack.auth.GetJwks(auth_pb2.GetJwksRequest())).keys
    assert keys
    for key in keys:
        assert (key.kty, key.alg, key.use, key.crv) == ("EC", "ES256", "sig", "P-256")
        assert key.kid
        assert key.x
        assert key.y


async def test_another_service_verifies_login_tokens_through_jwks(stack: Stack, other_service: Authenticator) -> None:
    account = await stack.new_tenant()
    principal = await other_service.authenticate(f"Bearer {account.access_token}")
    assert principal.kind == "user"
    assert principal.tenant_id == account.tenant_id
    assert principal.subject == account.owner.rsplit("/", 1)[1]
    assert principal.role == policy_pb2.ROLE_OWNER
    assert principal.session_id


async def test_token_of_a_retired_key_verifies_until_the_key_leaves_the_jwks(
    stack: Stack, settings: RuntimeSettings, auth_db: Database, database_url: str, other_service: Authenticator
) -> None:
    ring = replica_ring(settings, auth_db)
    before = await stack.new_tenant()
    old_kid = kid_of(before.access_token)

    middle = await ring.rotate()
    assert middle.kid != old_kid
    await wait_for_kids(stack, {old_kid, middle.kid})
    # Signed with a retired but still published key: still good, at auth and at other services.
    assert (await other_service.authenticate(f"Bearer {before.access_token}")).tenant_id == before.tenant_id
    await stack.auth.Validate(auth_pb2.ValidateRequest(credential=before.access_token))
    # New tokens come from the new key.
    during = (await stack.login(before.slug, before.email)).tokens.access_token
    assert kid_of(during) == middle.kid
    assert (await other_service.authenticate(f"Bearer {during}")).tenant_id == before.tenant_id

    newest = await ring.rotate()
    # Retire `middle` longer ago than any token lives; only tokens of this test used it.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE auth.signing_keys SET retire_time = now() - interval '1 day' WHERE kid = $1", middle.kid
        )
    finally:
        await conn.close()
    kids = await wait_for_kids(stack, {newest.kid, old_kid}, {middle.kid})
    assert kids[0] == newest.kid
    clients = Clients(stack.settings)
    late_verifier = remote_authenticator(clients, ServiceTokens(stack.settings.resolved_internal_secret(), "chatbot"))
    try:
        with pytest.raises(errors.Unauthenticated):
            await late_verifier.authenticate(f"Bearer {during}")
    finally:
        await clients.close()
    await expect_error(
        stack.auth.Validate(auth_pb2.ValidateRequest(credential=during)), grpc.StatusCode.UNAUTHENTICATED
    )


async def test_private_keys_are_encrypted_at_rest(settings: RuntimeSettings, auth_db: Database, stack: Stack) -> None:
    await published_kids(stack)
    async with auth_db.platform_tx() as conn:
        rows = await conn.fetch("SELECT kid, private_key FROM auth.signing_keys")
    assert rows
    cipher = KeyCipher(settings.resolved_internal_secret())
    for row in rows:
        sealed = bytes(row["private_key"])
        with pytest.raises(ValueError, match=r".*"):
            serialization.load_der_private_key(sealed, None)
        serialization.load_der_private_key(cipher.open(row["kid"], sealed), None)
        with pytest.raises(InvalidTag):
            KeyCipher("another-internal-secret-of-enough-length").open(row["kid"], sealed)
        with pytest.raises(InvalidTag):
            cipher.open("another-kid", sealed)


async def test_visitor_token_is_bound_to_its_chatbot(stack: Stack, other_service: Authenticator) -> None:
    account = await stack.new_tenant()
    chatbot_id = uuid.uuid4()
    chatbot = f"{account.tenant}/chatbots/{chatbot_id}"
    edge = ServiceTokens(stack.settings.resolved_internal_secret(), "edge")
    issued = await stack.auth.IssueVisitorToken(
        auth_pb2.IssueVisitorTokenRequest(chatbot=chatbot, visitor_id="v-123", verified=True),
        metadata=edge.metadata(account.tenant_id),
    )
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["typ"] == "visitor"
    assert claims["role"] == "visitor"
    assert claims["tid"] == str(account.tenant_id)
    assert claims["cid"] == str(chatbot_id)
    assert claims["sub"] == "v-123"
    assert 14 * 60 <= claims["exp"] - claims["iat"] <= 15 * 60
    assert issued.expire_time.seconds == claims["exp"]
    principal = await other_service.authenticate(f"Bearer {issued.token}")
    assert principal.kind == "visitor"
    assert principal.chatbot_id == chatbot_id
    assert principal.tenant_id == account.tenant_id
    validated = (await stack.auth.Validate(auth_pb2.ValidateRequest(credential=issued.token))).principal
    assert validated.kind == auth_pb2.PRINCIPAL_KIND_VISITOR
    assert validated.chatbot == chatbot
    assert validated.role == policy_pb2.ROLE_VISITOR


async def test_only_services_may_issue_visitor_tokens(stack: Stack) -> None:
    account = await stack.new_tenant()
    request = auth_pb2.IssueVisitorTokenRequest(chatbot=f"{account.tenant}/chatbots/{uuid.uuid4()}", visitor_id="v")
    await expect_error(
        stack.auth.IssueVisitorToken(request, metadata=account.metadata),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(stack.auth.IssueVisitorToken(request), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
