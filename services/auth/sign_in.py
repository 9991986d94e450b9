"""Signing in and staying signed in: password login, refresh-token rotation and logout."""

from __future__ import annotations

from dataclasses import dataclass

from services.auth.issuer import Minted, TokenIssuer
from services.auth.passwords import Passwords
from services.auth.sessions import Session, SessionStore
from services.auth.store import AuthStore, UserRow
from services.auth.tenants import TenantDirectory
from services.auth.throttle import LoginThrottle
from services.runtime import errors

#: The one answer to an unknown tenant, unknown e-mail or wrong password, so none can be told apart.
INVALID_CREDENTIALS = "invalid credentials"


@dataclass(frozen=True)
class Tokens:
    """An access token and the refresh token that renews it."""

    access: Minted
    refresh_token: str


class SignIn:
    """Turns passwords into sessions and sessions into fresh tokens."""

    def __init__(
        self,
        *,
        store: AuthStore,
        passwords: Passwords,
        sessions: SessionStore,
        issuer: TokenIssuer,
        throttle: LoginThrottle,
        tenants: TenantDirectory,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._sessions = sessions
        self._issuer = issuer
        self._throttle = throttle
        self._tenants = tenants

    async def login(self, tenant_slug: str, email: str, password: str, address: str) -> tuple[UserRow, Tokens]:
        """The user and a new session's tokens; UNAUTHENTICATED "invalid credentials" for any mismatch."""
        await self._throttle.attempt(tenant_slug, email, address)
        tenant_id = await self._tenants.lookup(tenant_slug)
        user = await self._store.find_user_by_email(tenant_id, email) if tenant_id is not None else None
        # Verified even without a user (against a dummy hash) so a miss costs what a wrong password costs.
        ok = await self._passwords.verify(user.password_hash if user else None, password)
        if user is None or user.password_hash is None or not ok:
            raise errors.Unauthenticated(INVALID_CREDENTIALS)
        await self._throttle.succeeded(tenant_slug, email, address)
        stronger = await self._passwords.hash(password) if self._passwords.needs_rehash(user.password_hash) else None
        await self._store.record_login(user.tenant_id, user.id, stronger)
        session, refresh_token = await self._sessions.start(user.tenant_id, user.id)
        return user, await self._tokens(session, user, refresh_token)

    async def refresh(self, refresh_token: str) -> Tokens:
        """Rotates the refresh token; the access token carries the user's current role."""
        session, next_token = await self._sessions.rotate(refresh_token)
        user = await self._store.get_user(session.tenant_id, session.user_id)
        if user is None:
            await self._sessions.revoke_family(session.id)
            raise errors.Unauthenticated("invalid refresh token")
        return await self._tokens(session, user, next_token)

    async def logout(self, refresh_token: str) -> None:
        """Ends the token's session; an unknown or already ended session is not an error."""
        await self._sessions.revoke(refresh_token)

    async def _tokens(self, session: Session, user: UserRow, refresh_token: str) -> Tokens:
        access = await self._issuer.access_token(user.tenant_id, user.id, user.role, session.id)
        return Tokens(access=access, refresh_token=refresh_token)
