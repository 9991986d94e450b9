"""Login, refresh rotation with reuse detection, logout and Validate, against the running auth and tenant servers."""

from __future__ import annotations

import time

import grpc
import jwt

from avatarchat.auth.v1 import auth_pb2
from avatarchat.policy.v1 import policy_pb2
from services.runtime.tokens import AUDIENCE, AUTH_ISSUER
from tests.errors_assert import expect_error
from tests.services.auth.conftest import add_user, fresh_address, from_address
from tests.services.conftest import PASSWORD, Stack

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def test_login_returns_tokens_and_user_with_expected_claims(stack: Stack) -> None:
    account = await stack.new_tenant()
    response = await stack.login(account.slug, account.email.upper())
    tokens, user = response.tokens, response.user
    assert tokens.token_type == "Bearer"
    assert tokens.access_token_ttl.seconds == 600
    assert tokens.refresh_token_ttl.seconds == 30 * 24 * 3600
    assert user.name == account.owner
    assert user.email == account.email
    assert user.role == policy_pb2.ROLE_OWNER
    assert not user.password
    assert user.HasField("create_time")
    header = jwt.get_unverified_header(tokens.access_token)
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert header["alg"] == "ES256"
    assert header["kid"]
    assert claims["iss"] == AUTH_ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == account.owner.rsplit("/", 1)[1]
    assert claims["tid"] == str(account.tenant_id)
    assert claims["role"] == "owner"
    assert claims["typ"] == "access"
    assert claims["sid"]
    assert claims["jti"]
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 30
    again = await stack.auth.GetUser(auth_pb2.GetUserRequest(name=account.owner), metadata=account.metadata)
    assert again.user.HasField("last_login_time")


async def test_unknown_slug_email_and_wrong_password_look_the_same(stack: Stack) -> None:
    account = await stack.new_tenant()
    attempts = [
        auth_pb2.LoginRequest(tenant_slug="no-such-tenant-x1", email=account.email, password=PASSWORD),
        auth_pb2.LoginRequest(tenant_slug=account.slug, email="nobody@example.com", password=PASSWORD),
        auth_pb2.LoginRequest(tenant_slug=account.slug, email=account.email, password="wrong password!"),
    ]
    messages = set()
    for request in attempts:
        exc = await expect_error(
            stack.auth.Login(request, metadata=from_address(fresh_address())), UNAUTHENTICATED, "UNAUTHENTICATED"
        )
        messages.add(exc.details())
    assert messages == {"invalid credentials"}


async def test_same_email_in_two_tenants_is_two_users(stack: Stack) -> None:
    first, second = await stack.new_tenant(), await stack.new_tenant()
    email = "shared@example.com"
    one = await add_user(stack, first, policy_pb2.ROLE_MEMBER, email)
    two = await add_user(stack, second, policy_pb2.ROLE_MEMBER, email)
    assert one.name != two.name
    assert one.name.startswith(first.tenant + "/")
    assert two.name.startswith(second.tenant + "/")


async def test_refresh_rotates_and_old_token_stops_working(stack: Stack) -> None:
    account = await stack.new_tenant()
    first = (await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.refresh_token))).tokens
    assert first.refresh_token != account.refresh_token
    claims = jwt.decode(first.access_token, options={"verify_signature": False})
    assert claims["sub"] == account.owner.rsplit("/", 1)[1]
    second = (await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))).tokens
    assert second.refresh_token not in (first.refresh_token, account.refresh_token)
    # Same session across rotations: every access token names the same family.
    sids = {
        jwt.decode(t, options={"verify_signature": False})["sid"] for t in (first.access_token, second.access_token)
    }
    assert len(sids) == 1


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(stack: Stack) -> None:
    account = await stack.new_tenant()
    rotated = (await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.refresh_token))).tokens
    newest = (await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=rotated.refresh_token))).tokens
    # The first token was copied by an attacker and comes back: everything in its family dies.
    await expect_error(
        stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.refresh_token)),
        UNAUTHENTICATED,
        "TOKEN_REUSED",
    )
    await expect_error(
        stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=newest.refresh_token)),
        UNAUTHENTICATED,
        "UNAUTHENTICATED",
    )
    await expect_error(stack.auth.Validate(auth_pb2.ValidateRequest(credential=newest.access_token)), UNAUTHENTICATED)
    # Other sessions of the same user are untouched.
    other = (await stack.login(account.slug, account.email)).tokens
    await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=other.refresh_token))


async def test_logout_ends_the_session_and_its_access_tokens(stack: Stack) -> None:
    account = await stack.new_tenant()
    valid = await stack.auth.Validate(auth_pb2.ValidateRequest(credential=account.access_token))
    assert valid.principal.kind == auth_pb2.PRINCIPAL_KIND_USER
    assert valid.principal.tenant == account.tenant
    assert valid.principal.subject == account.owner.rsplit("/", 1)[1]
    assert valid.principal.role == policy_pb2.ROLE_OWNER
    assert valid.principal.HasField("expire_time")
    await stack.auth.Logout(auth_pb2.LogoutRequest(refresh_token=account.refresh_token))
    await expect_error(
        stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.refresh_token)), UNAUTHENTICATED
    )
    exc = await expect_error(
        stack.auth.Validate(auth_pb2.ValidateRequest(credential=account.access_token)), UNAUTHENTICATED
    )
    assert "revoked" in (exc.details() or "")
    # Auth itself refuses the logged-out access token at once (other services wait for it to expire).
    await expect_error(
        stack.auth.ListUsers(auth_pb2.ListUsersRequest(parent=account.tenant), metadata=account.metadata),
        UNAUTHENTICATED,
    )
    # Logging out twice, or with a token of no live session, is not an error.
    await stack.auth.Logout(auth_pb2.LogoutRequest(refresh_token=account.refresh_token))
    await stack.auth.Logout(auth_pb2.LogoutRequest(refresh_token="0" * 32 + ".unknown-secret"))


async def test_forged_and_garbage_refresh_tokens_are_unauthenticated(stack: Stack) -> None:
    account = await stack.new_tenant()
    family = account.refresh_token.split(".", 1)[0]
    for token in ("garbage", f"{family}.forged-secret-that-was-never-issued", "x" * 32 + ".abc"):
        await expect_error(stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=token)), UNAUTHENTICATED)
    # A guessed token naming a real family must not revoke it (the family id is visible as `sid`).
    await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=account.refresh_token))


async def test_refresh_picks_up_a_role_change(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    member = await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    await stack.auth.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=member.name, role=policy_pb2.ROLE_ADMIN), metadata=account.metadata
    )
    tokens = (await stack.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=member.refresh_token))).tokens
    assert jwt.decode(tokens.access_token, options={"verify_signature": False})["role"] == "admin"


async def test_validate_rejects_tampered_and_foreign_tokens(stack: Stack) -> None:
    account = await stack.new_tenant()
    head, body, signature = account.access_token.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    foreign = jwt.encode(
        {
            "iss": AUTH_ISSUER,
            "aud": AUDIENCE,
            "sub": "x",
            "tid": str(account.tenant_id),
            "role": "owner",
            "typ": "access",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        "not-our-key-but-long-enough-for-hs256-xx",
        algorithm="HS256",
        headers={"kid": jwt.get_unverified_header(account.access_token)["kid"]},
    )
    for credential in (tampered, foreign, "not a token", "ak_short"):
        await expect_error(
            stack.auth.Validate(auth_pb2.ValidateRequest(credential=credential)), UNAUTHENTICATED, "UNAUTHENTICATED"
        )


async def test_invited_user_without_password_cannot_log_in(stack: Stack) -> None:
    account = await stack.new_tenant()
    email = f"invited@{account.slug}.example"
    await stack.auth.CreateUser(
        auth_pb2.CreateUserRequest(parent=account.tenant, user=auth_pb2.User(email=email, role=policy_pb2.ROLE_MEMBER)),
        metadata=account.metadata,
    )
    await expect_error(
        stack.auth.Login(
            auth_pb2.LoginRequest(tenant_slug=account.slug, email=email, password=PASSWORD),
            metadata=from_address(fresh_address()),
        ),
        UNAUTHENTICATED,
        "UNAUTHENTICATED",
    )
