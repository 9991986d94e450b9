"""Credentials as the auth service sees them: like every service, plus what only auth knows (revoked sessions)."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from services.auth.api_keys import ApiKeys
from services.auth.sessions import SessionStore
from services.runtime import errors
from services.runtime.context import Principal
from services.runtime.tokens import API_KEY_PREFIX, ApiKeyValidator, Authenticator, JwksSource, ServiceTokens


class SessionAwareAuthenticator(Authenticator):
    """The runtime Authenticator that also refuses access tokens whose session was logged out or revoked.

    Other services accept an access token until it expires (at most the access TTL); auth, which mints API
    keys and changes roles, checks the session in Redis on every call so logout takes effect at once here.
    For the same reason auth checks every signature afresh: a key taken out of its ring stops working here at once.
    """

    def __init__(
        self, service_tokens: ServiceTokens, jwks: JwksSource, api_keys: ApiKeyValidator, sessions: SessionStore
    ) -> None:
        super().__init__(service_tokens, jwks, api_keys, remember_seconds=0)
        self._sessions = sessions

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller's principal; UNAUTHENTICATED for a user whose session has ended."""
        principal = await super().authenticate(authorization)
        if principal.kind == "user" and not await self._sessions.is_active(principal.session_id):
            raise errors.Unauthenticated("session has been revoked")
        return principal


class CredentialChecker:
    """Validate: any credential (access, visitor, service token or API key) to its principal and expiry."""

    def __init__(self, authenticator: SessionAwareAuthenticator, api_keys: ApiKeys) -> None:
        self._authenticator = authenticator
        self._api_keys = api_keys

    async def check(self, credential: str) -> tuple[Principal, datetime | None]:
        """The principal and expiry of a valid credential; UNAUTHENTICATED otherwise."""
        if credential.startswith(API_KEY_PREFIX):
            return await self._api_keys.check(credential)
        principal = await self._authenticator.authenticate(f"Bearer {credential}")
        # The signature was verified just above; this only reads the expiry back out.
        claims = jwt.decode(credential, options={"verify_signature": False})
        expiry = claims.get("exp")
        return principal, datetime.fromtimestamp(int(expiry), UTC) if expiry is not None else None
