"""Bearer credentials: verifying access and visitor JWTs (ES256, JWKS), service tokens and API keys.

User and visitor tokens are ES256 JWTs from the auth service, checked here against its published
JWKS. Services calling each other as themselves use short-lived HS256 tokens signed with the
internal secret (in a cluster Istio mTLS sits underneath). Each issuer is pinned to one algorithm,
so a token can never pick the key it is checked with.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import jwt

from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors
from services.runtime.context import ANONYMOUS, Principal

AUTH_ISSUER = "avatarchat-auth"
INTERNAL_ISSUER = "avatarchat-internal"
AUDIENCE = "avatarchat"
API_KEY_PREFIX = "ak_"

ROLE_CLAIMS: dict[str, int] = {
    "member": policy_pb2.ROLE_MEMBER,
    "admin": policy_pb2.ROLE_ADMIN,
    "owner": policy_pb2.ROLE_OWNER,
    "platform_admin": policy_pb2.ROLE_PLATFORM_ADMIN,
    "service": policy_pb2.ROLE_SERVICE,
    "visitor": policy_pb2.ROLE_VISITOR,
}
CLAIM_OF_ROLE = {v: k for k, v in ROLE_CLAIMS.items()}


class JwksSource(Protocol):
    """Where verification keys come from, by key id."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The public key with id `kid`, or None when it is unknown."""
        ...


#: Checks an API key and returns its principal; raises Unauthenticated when it is not valid.
ApiKeyValidator = Callable[[str], Awaitable[Principal]]


class RemoteJwks:
    """The auth service's JWKS, cached and refetched (at most every few seconds) on an unknown kid."""

    def __init__(self, fetch: Callable[[], Awaitable[list[Mapping[str, Any]]]], min_refresh_seconds: float = 5.0):
        self._fetch = fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key for `kid`, fetching the set again when the kid is new."""
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                self._fetched_at = time.monotonic()
                keys = await self._fetch()
                self._keys = {k["kid"]: jwt.PyJWK(dict(k)) for k in keys}
        return self._keys.get(kid)


class ServiceTokens:
    """Mints and checks the HS256 tokens services present when they call each other as themselves."""

    def __init__(self, secret: str, service: str, ttl_seconds: int = 120) -> None:
        if len(secret) < 32:
            raise ValueError("internal secret must be at least 32 characters")
        self._secret = secret
        self._service = service
        self._ttl = ttl_seconds
        self._cache: dict[uuid.UUID | None, tuple[float, str]] = {}

    def mint(self, tenant_id: uuid.UUID | None = None) -> str:
        """A token for this service acting for `tenant_id` (None: platform-wide), reused until near expiry."""
        now = time.time()
        cached = self._cache.get(tenant_id)
        if cached and cached[0] - now > self._ttl / 4:
            return cached[1]
        claims: dict[str, Any] = {
            "iss": INTERNAL_ISSUER,
            "aud": AUDIENCE,
            "sub": self._service,
            "role": "service",
            "iat": int(now),
            "exp": int(now) + self._ttl,
        }
        if tenant_id is not None:
            claims["tid"] = str(tenant_id)
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        self._cache[tenant_id] = (now + self._ttl, token)
        return token

    def metadata(self, tenant_id: uuid.UUID | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata that authenticates this service for `tenant_id`."""
        return (("authorization", f"Bearer {self.mint(tenant_id)}"),)

    def verify(self, token: str) -> Principal:
        """The service principal of a valid internal token."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=INTERNAL_ISSUER,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise errors.Unauthenticated(f"invalid service token: {exc}") from None
        return Principal(
            kind="service",
            subject=str(claims["sub"]),
            tenant_id=_tenant(claims.get("tid")),
            role=policy_pb2.ROLE_SERVICE,
            credential=token,
        )


def _tenant(value: object) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.Unauthenticated("token has a malformed tenant") from None


def principal_from_claims(claims: Mapping[str, Any], token: str) -> Principal:
    """The principal an auth-service JWT stands for (access or visitor token)."""
    role = ROLE_CLAIMS.get(str(claims.get("role", "")))
    if role is None:
        raise errors.Unauthenticated("token has an unknown role")
    typ = claims.get("typ")
    if typ == "visitor":
        if role != policy_pb2.ROLE_VISITOR:
            raise errors.Unauthenticated("visitor token with a non-visitor role")
        chatbot = _tenant(claims.get("cid"))
        if chatbot is None:
            raise errors.Unauthenticated("visitor token without a chatbot")
        return Principal(
            kind="visitor",
            subject=str(claims["sub"]),
            tenant_id=_tenant(claims.get("tid")),
            role=role,
            chatbot_id=chatbot,
            credential=token,
        )
    if typ != "access" or role in (policy_pb2.ROLE_VISITOR, policy_pb2.ROLE_SERVICE):
        raise errors.Unauthenticated("not an access token")
    return Principal(
        kind="user",
        subject=str(claims["sub"]),
        tenant_id=_tenant(claims.get("tid")),
        role=role,
        session_id=str(claims.get("sid", "")),
        credential=token,
    )


#: How long a verified JWT's principal is reused without checking its signature again (never past its `exp`).
VERIFIED_SECONDS = 60.0
_VERIFIED_MAX = 10_000


class Authenticator:
    """Turns an `authorization` header into a principal, whatever kind of credential it carries.

    A JWT that verified is remembered for up to a minute (never past its expiry): a conversation's calls
    carry the same token through several services, and an ES256 check costs about 0.2 ms of CPU each time.
    """

    def __init__(
        self,
        service_tokens: ServiceTokens,
        jwks: JwksSource,
        api_keys: ApiKeyValidator,
        *,
        remember_seconds: float = VERIFIED_SECONDS,
    ) -> None:
        self._service_tokens = service_tokens
        self._jwks = jwks
        self._api_keys = api_keys
        self._remember_seconds = remember_seconds
        # token -> (monotonic deadline, principal)
        self._verified: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller's principal; ANONYMOUS without credentials; Unauthenticated when they are bad."""
        if not authorization:
            return ANONYMOUS
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential:
            raise errors.Unauthenticated("authorization must be 'Bearer <token>'")
        credential = credential.strip()
        if credential.startswith(API_KEY_PREFIX):
            return await self._api_keys(credential)
        now = time.monotonic()
        cached = self._verified.get(credential)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            header = jwt.get_unverified_header(credential)
            unverified = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise errors.Unauthenticated("malformed token") from None
        issuer = unverified.get("iss")
        if issuer == INTERNAL_ISSUER:
            principal = self._service_tokens.verify(credential)
        elif issuer == AUTH_ISSUER:
            principal = await self.verify_auth_token(credential, header)
        else:
            raise errors.Unauthenticated("unknown token issuer")
        self._remember(credential, principal, unverified.get("exp"), now)
        return principal

    def _remember(self, token: str, principal: Principal, exp: object, now: float) -> None:
        """Keeps a verified token's principal until its expiry or `remember_seconds`, whichever comes first."""
        if not isinstance(exp, int | float):
            return
        seconds = min(self._remember_seconds, float(exp) - time.time())
        if seconds <= 0:
            return
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (now + seconds, principal)

    async def verify_auth_token(self, token: str, header: Mapping[str, Any] | None = None) -> Principal:
        """Checks an ES256 token of the auth service against the JWKS."""
        header = header if header is not None else jwt.get_unverified_header(token)
        key = await self._jwks.key(str(header.get("kid", "")))
        if key is None:
            raise errors.Unauthenticated("token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience=AUDIENCE,
                issuer=AUTH_ISSUER,
                options={"require": ["exp", "iat", "sub", "tid", "role", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise errors.Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise errors.Unauthenticated(f"invalid token: {exc}") from None
        return principal_from_claims(claims, token)
