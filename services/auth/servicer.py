"""AuthService over gRPC: every method validates its request, calls the domain and builds the response."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import resources
from services.auth.api_keys import ApiKeys, check_scopes
from services.auth.credentials import CredentialChecker
from services.auth.issuer import TokenIssuer
from services.auth.keys import KeyRing
from services.auth.sign_in import SignIn, Tokens
from services.auth.store import AuthStore, Cursor
from services.auth.throttle import client_address
from services.auth.users import USER_ROLES, Users
from services.runtime import errors, names, pagination
from services.runtime.context import require_tenant_access
from services.runtime.validation import Checks

Context = grpc.aio.ServicerContext[Any, Any]

MAX_TOKEN_LENGTH = 4096
MAX_PASSWORD_LENGTH = 256
_VISITOR_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_ROLE_CHOICES = "ROLE_MEMBER, ROLE_ADMIN, ROLE_OWNER or ROLE_PLATFORM_ADMIN"


def _required_token(checks: Checks, field: str, value: str) -> str:
    if not value:
        checks.fail(field, "required")
    elif len(value) > MAX_TOKEN_LENGTH:
        checks.fail(field, f"at most {MAX_TOKEN_LENGTH} characters")
    return value


def _user_role(checks: Checks, field: str, value: int) -> int:
    if value not in USER_ROLES:
        checks.fail(field, "required" if value == 0 else f"must be {_ROLE_CHOICES}")
    return value


def _cursor(page_tokens: pagination.PageTokens, token: str, scope: str) -> Cursor | None:
    raw = page_tokens.decode(token, scope)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(str(raw[0])), uuid.UUID(str(raw[1]))
    except (IndexError, ValueError):
        raise errors.InvalidArgument.field("page_token", "malformed page token") from None


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    """The AuthService RPCs; its collaborators come from the composition root (server.build)."""

    def __init__(
        self,
        *,
        store: AuthStore,
        users: Users,
        sign_in: SignIn,
        api_keys: ApiKeys,
        credentials: CredentialChecker,
        issuer: TokenIssuer,
        ring: KeyRing,
        page_tokens: pagination.PageTokens,
        refresh_ttl_seconds: int,
    ) -> None:
        self._store = store
        self._users = users
        self._sign_in = sign_in
        self._api_keys = api_keys
        self._credentials = credentials
        self._issuer = issuer
        self._ring = ring
        self._pages = page_tokens
        self._refresh_ttl = refresh_ttl_seconds

    def _pair(self, tokens: Tokens) -> auth_pb2.TokenPair:
        return resources.token_pair(tokens, self._issuer.access_ttl_seconds, self._refresh_ttl)

    async def Login(self, request: auth_pb2.LoginRequest, context: Context) -> auth_pb2.LoginResponse:
        """Password login into one tenant."""
        checks = Checks()
        slug = checks.slug("tenant_slug", request.tenant_slug)
        email = checks.email("email", request.email)
        if not request.password:
            checks.fail("password", "required")
        elif len(request.password) > MAX_PASSWORD_LENGTH:
            checks.fail("password", f"at most {MAX_PASSWORD_LENGTH} characters")
        checks.done()
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        address = client_address(metadata.get("x-forwarded-for"), context.peer())
        user, tokens = await self._sign_in.login(slug, email, request.password, address)
        return auth_pb2.LoginResponse(tokens=self._pair(tokens), user=resources.user_message(user))

    async def Logout(self, request: auth_pb2.LogoutRequest, context: Context) -> auth_pb2.LogoutResponse:
        """Ends the refresh token's session."""
        checks = Checks()
        token = _required_token(checks, "refresh_token", request.refresh_token)
        checks.done()
        await self._sign_in.logout(token)
        return auth_pb2.LogoutResponse()

    async def Refresh(self, request: auth_pb2.RefreshRequest, context: Context) -> auth_pb2.RefreshResponse:
        """Rotates a refresh token."""
        checks = Checks()
        token = _required_token(checks, "refresh_token", request.refresh_token)
        checks.done()
        return auth_pb2.RefreshResponse(tokens=self._pair(await self._sign_in.refresh(token)))

    async def Validate(self, request: auth_pb2.ValidateRequest, context: Context) -> auth_pb2.ValidateResponse:
        """The principal behind a credential."""
        checks = Checks()
        credential = _required_token(checks, "credential", request.credential.strip())
        checks.done()
        principal, expire_time = await self._credentials.check(credential)
        return auth_pb2.ValidateResponse(principal=resources.principal_message(principal, expire_time))

    async def GetJwks(self, request: auth_pb2.GetJwksRequest, context: Context) -> auth_pb2.GetJwksResponse:
        """The published verification keys."""
        return auth_pb2.GetJwksResponse(keys=[auth_pb2.Jwk(**jwk) for jwk in await self._ring.jwks()])

    async def CreateUser(self, request: auth_pb2.CreateUserRequest, context: Context) -> auth_pb2.CreateUserResponse:
        """Creates a user of the parent tenant."""
        tenant_id = names.parse_tenant(request.parent, "parent")
        caller = require_tenant_access(tenant_id, request.parent)
        checks = Checks()
        if not request.HasField("user"):
            checks.fail("user", "required")
        user = request.user
        email = checks.email("user.email", user.email)
        display_name = checks.text("user.display_name", user.display_name, required=False, max_len=200)
        role = _user_role(checks, "user.role", user.role)
        if user.password:
            checks.password("user.password", user.password)
        checks.done()
        row = await self._users.create(
            tenant_id, caller, email=email, display_name=display_name, role=role, password=user.password
        )
        return auth_pb2.CreateUserResponse(user=resources.user_message(row))

    async def GetUser(self, request: auth_pb2.GetUserRequest, context: Context) -> auth_pb2.GetUserResponse:
        """One user of the caller's tenant."""
        ids = names.parse(request.name, resources.USER_PATTERN)
        require_tenant_access(ids["tenant"], request.name)
        row = await self._store.get_user(ids["tenant"], ids["user"])
        if row is None:
            raise errors.NotFound(request.name)
        return auth_pb2.GetUserResponse(user=resources.user_message(row))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, context: Context) -> auth_pb2.ListUsersResponse:
        """A page of the tenant's users, oldest first."""
        tenant_id = names.parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        size = pagination.page_size(request.page_size)
        scope = f"{request.parent}/users"
        rows = await self._store.list_users(tenant_id, _cursor(self._pages, request.page_token, scope), size + 1)
        response = auth_pb2.ListUsersResponse(users=[resources.user_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def SetUserRole(self, request: auth_pb2.SetUserRoleRequest, context: Context) -> auth_pb2.SetUserRoleResponse:
        """Changes a user's role, keeping at least one owner."""
        ids = names.parse(request.name, resources.USER_PATTERN)
        caller = require_tenant_access(ids["tenant"], request.name)
        checks = Checks()
        role = _user_role(checks, "role", request.role)
        checks.done()
        row = await self._users.set_role(ids["tenant"], ids["user"], caller, role)
        if row is None:
            raise errors.NotFound(request.name)
        return auth_pb2.SetUserRoleResponse(user=resources.user_message(row))

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        """Creates an API key and shows its secret this once."""
        tenant_id = names.parse_tenant(request.parent, "parent")
        caller = require_tenant_access(tenant_id, request.parent)
        checks = Checks()
        if not request.HasField("api_key"):
            checks.fail("api_key", "required")
        key = request.api_key
        display_name = checks.text("api_key.display_name", key.display_name, max_len=200)
        scopes = check_scopes(checks, "api_key.scopes", list(key.scopes))
        expire_time: datetime | None = None
        if key.HasField("expire_time"):
            expire_time = key.expire_time.ToDatetime(tzinfo=UTC)
            if expire_time <= datetime.now(UTC):
                checks.fail("api_key.expire_time", "must be in the future")
        checks.done()
        row, secret = await self._api_keys.create(tenant_id, display_name, scopes, expire_time, caller.subject)
        return auth_pb2.CreateApiKeyResponse(api_key=resources.api_key_message(row), secret=secret)

    async def ListApiKeys(self, request: auth_pb2.ListApiKeysRequest, context: Context) -> auth_pb2.ListApiKeysResponse:
        """A page of the tenant's API keys, oldest first, without secrets."""
        tenant_id = names.parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        size = pagination.page_size(request.page_size)
        scope = f"{request.parent}/apiKeys"
        rows = await self._store.list_api_keys(tenant_id, _cursor(self._pages, request.page_token, scope), size + 1)
        response = auth_pb2.ListApiKeysResponse(api_keys=[resources.api_key_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def DeleteApiKey(
        self, request: auth_pb2.DeleteApiKeyRequest, context: Context
    ) -> auth_pb2.DeleteApiKeyResponse:
        """Revokes an API key at once."""
        ids = names.parse(request.name, resources.API_KEY_PATTERN)
        require_tenant_access(ids["tenant"], request.name)
        if not await self._store.delete_api_key(ids["tenant"], ids["api_key"]):
            raise errors.NotFound(request.name)
        return auth_pb2.DeleteApiKeyResponse()

    async def IssueVisitorToken(
        self, request: auth_pb2.IssueVisitorTokenRequest, context: Context
    ) -> auth_pb2.IssueVisitorTokenResponse:
        """A visitor token for one chatbot (the edge calls this after checking the page's origin)."""
        ids = names.parse(request.chatbot, resources.CHATBOT_PATTERN, "chatbot")
        require_tenant_access(ids["tenant"], request.chatbot)
        if not _VISITOR_ID.match(request.visitor_id):
            raise errors.InvalidArgument.field("visitor_id", "1-128 printable ASCII characters without spaces")
        minted = await self._issuer.visitor_token(ids["tenant"], ids["chatbot"], request.visitor_id, request.verified)
        return auth_pb2.IssueVisitorTokenResponse(
            token=minted.token, expire_time=resources.timestamp(minted.expire_time)
        )
