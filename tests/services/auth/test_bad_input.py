"""Bad input answers INVALID_ARGUMENT naming the wrong field in BadRequest, never INTERNAL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from avatarchat.auth.v1 import auth_pb2
from avatarchat.policy.v1 import policy_pb2
from services.runtime import status
from services.runtime.tokens import ServiceTokens
from tests.services.conftest import Account, Stack

LONG = "x" * 5000
#: (RPC, request builder from the account, fields that must be named).
Case = tuple[str, Callable[[Account], Any], set[str]]


def user(**fields: Any) -> auth_pb2.User:
    """A valid user with `fields` overridden."""
    values: dict[str, Any] = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "role": policy_pb2.ROLE_MEMBER}
    return auth_pb2.User(**(values | fields))


def api_key(**fields: Any) -> auth_pb2.ApiKey:
    """A valid API key with `fields` overridden."""
    return auth_pb2.ApiKey(**({"display_name": "k", "scopes": ["chatbots.read"]} | fields))


CASES: list[Case] = [
    ("Login", lambda a: auth_pb2.LoginRequest(tenant_slug="", email="a@b.co", password="p"), {"tenant_slug"}),
    ("Login", lambda a: auth_pb2.LoginRequest(tenant_slug="Bad Slug!", email="a@b.co", password="p"), {"tenant_slug"}),
    ("Login", lambda a: auth_pb2.LoginRequest(tenant_slug=a.slug, email="nope", password="p"), {"email"}),
    ("Login", lambda a: auth_pb2.LoginRequest(tenant_slug=a.slug, email=a.email, password=""), {"password"}),
    ("Login", lambda a: auth_pb2.LoginRequest(tenant_slug=a.slug, email=a.email, password=LONG), {"password"}),
    ("Login", lambda a: auth_pb2.LoginRequest(), {"tenant_slug", "email", "password"}),
    ("Refresh", lambda a: auth_pb2.RefreshRequest(), {"refresh_token"}),
    ("Refresh", lambda a: auth_pb2.RefreshRequest(refresh_token=LONG), {"refresh_token"}),
    ("Logout", lambda a: auth_pb2.LogoutRequest(), {"refresh_token"}),
    ("Validate", lambda a: auth_pb2.ValidateRequest(), {"credential"}),
    ("Validate", lambda a: auth_pb2.ValidateRequest(credential=LONG), {"credential"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(user=user()), {"parent"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent="tenants/not-a-uuid", user=user()), {"parent"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=f"{a.tenant}/users", user=user()), {"parent"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant.upper(), user=user()), {"parent"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent="tenants/" + LONG, user=user()), {"parent"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant), {"user", "user.email", "user.role"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(email="x@")), {"user.email"}),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(role=0)), {"user.role"}),
    (
        "CreateUser",
        lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(role=policy_pb2.ROLE_SERVICE)),
        {"user.role"},
    ),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(role=42)), {"user.role"}),
    (
        "CreateUser",
        lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(password="short")),
        {"user.password"},
    ),
    ("CreateUser", lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(password=LONG)), {"user.password"}),
    (
        "CreateUser",
        lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(display_name=LONG)),
        {"user.display_name"},
    ),
    (
        "CreateUser",
        lambda a: auth_pb2.CreateUserRequest(parent=a.tenant, user=user(display_name="a\x00b")),
        {"user.display_name"},
    ),
    ("GetUser", lambda a: auth_pb2.GetUserRequest(), {"name"}),
    ("GetUser", lambda a: auth_pb2.GetUserRequest(name=f"{a.tenant}/users/bob"), {"name"}),
    ("GetUser", lambda a: auth_pb2.GetUserRequest(name=f"{a.tenant}/apiKeys/{uuid.uuid4()}"), {"name"}),
    ("ListUsers", lambda a: auth_pb2.ListUsersRequest(parent=a.tenant, page_size=-1), {"page_size"}),
    ("ListUsers", lambda a: auth_pb2.ListUsersRequest(parent=a.tenant, page_token="garbage!"), {"page_token"}),
    ("ListUsers", lambda a: auth_pb2.ListUsersRequest(parent=""), {"parent"}),
    ("SetUserRole", lambda a: auth_pb2.SetUserRoleRequest(name=a.owner), {"role"}),
    ("SetUserRole", lambda a: auth_pb2.SetUserRoleRequest(name=a.owner, role=policy_pb2.ROLE_VISITOR), {"role"}),
    ("SetUserRole", lambda a: auth_pb2.SetUserRoleRequest(name="users/x", role=policy_pb2.ROLE_MEMBER), {"name"}),
    (
        "CreateApiKey",
        lambda a: auth_pb2.CreateApiKeyRequest(parent=a.tenant),
        {"api_key", "api_key.display_name", "api_key.scopes"},
    ),
    (
        "CreateApiKey",
        lambda a: auth_pb2.CreateApiKeyRequest(parent=a.tenant, api_key=api_key(display_name="")),
        {"api_key.display_name"},
    ),
    (
        "CreateApiKey",
        lambda a: auth_pb2.CreateApiKeyRequest(parent=a.tenant, api_key=api_key(display_name=LONG)),
        {"api_key.display_name"},
    ),
    (
        "CreateApiKey",
        lambda a: auth_pb2.CreateApiKeyRequest(parent=a.tenant, api_key=api_key(scopes=[])),
        {"api_key.scopes"},
    ),
    (
        "CreateApiKey",
        lambda a: auth_pb2.CreateApiKeyRequest(parent=a.tenant, api_key=api_key(scopes=["admin"] * 50)),
        {"api_key.scopes"},
    ),
    ("CreateApiKey", lambda a: auth_pb2.CreateApiKeyRequest(parent="x", api_key=api_key()), {"parent"}),
    ("ListApiKeys", lambda a: auth_pb2.ListApiKeysRequest(parent=a.tenant, page_size=-5), {"page_size"}),
    ("DeleteApiKey", lambda a: auth_pb2.DeleteApiKeyRequest(name=f"{a.tenant}/apiKeys/zzz"), {"name"}),
    ("DeleteApiKey", lambda a: auth_pb2.DeleteApiKeyRequest(), {"name"}),
    ("IssueVisitorToken", lambda a: auth_pb2.IssueVisitorTokenRequest(visitor_id="v"), {"chatbot"}),
    (
        "IssueVisitorToken",
        lambda a: auth_pb2.IssueVisitorTokenRequest(chatbot=f"{a.tenant}/chatbots/nope", visitor_id="v"),
        {"chatbot"},
    ),
    (
        "IssueVisitorToken",
        lambda a: auth_pb2.IssueVisitorTokenRequest(chatbot=f"{a.tenant}/chatbots/{uuid.uuid4()}"),
        {"visitor_id"},
    ),
    (
        "IssueVisitorToken",
        lambda a: auth_pb2.IssueVisitorTokenRequest(chatbot=f"{a.tenant}/chatbots/{uuid.uuid4()}", visitor_id="a b"),
        {"visitor_id"},
    ),
]


@pytest.fixture(scope="module")
async def account(stack: Stack) -> Account:
    """One tenant whose owner sends every bad request."""
    return await stack.new_tenant("bad")


def call_of(stack: Stack, rpc: str) -> Callable[..., Awaitable[Any]]:
    """The stub method of `rpc`."""
    method: Callable[..., Awaitable[Any]] = getattr(stack.auth, rpc)
    return method


@pytest.mark.parametrize(("rpc", "build", "fields"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input_names_the_field(
    stack: Stack, account: Account, rpc: str, build: Callable[[Account], Any], fields: set[str]
) -> None:
    if rpc == "IssueVisitorToken":
        metadata = ServiceTokens(stack.settings.resolved_internal_secret(), "edge").metadata(account.tenant_id)
    else:
        metadata = account.metadata
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call_of(stack, rpc)(build(account), metadata=metadata)
    exc = caught.value
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
    rich = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert rich is not None
    info = status.error_info(rich)
    assert info is not None
    assert info.reason == "INVALID_FIELD"
    assert info.domain == "avatarchat.auth"
    bad = status.bad_request(rich)
    assert bad is not None
    assert {v.field for v in bad.field_violations} == fields
    assert all(v.description for v in bad.field_violations)


async def test_a_page_token_only_works_for_its_own_request(stack: Stack, account: Account) -> None:
    for _ in range(2):
        await stack.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(parent=account.tenant, api_key=api_key()), metadata=account.metadata
        )
    page = await stack.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(parent=account.tenant, page_size=1), metadata=account.metadata
    )
    assert page.next_page_token
    other = await stack.new_tenant("bad")
    requests: list[tuple[str, Any, tuple[tuple[str, str], ...]]] = [
        (
            "ListUsers",
            auth_pb2.ListUsersRequest(parent=account.tenant, page_token=page.next_page_token),
            account.metadata,
        ),
        (
            "ListApiKeys",
            auth_pb2.ListApiKeysRequest(parent=other.tenant, page_token=page.next_page_token),
            other.metadata,
        ),
    ]
    for rpc, request, metadata in requests:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_of(stack, rpc)(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
