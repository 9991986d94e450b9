"""Mints the auth service's JWTs: access tokens for users and visitor tokens for widget visitors."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.auth.keys import KeyRing
from services.runtime.tokens import AUDIENCE, AUTH_ISSUER


@dataclass(frozen=True)
class Minted:
    """A signed token and when it expires."""

    token: str
    expire_time: datetime


class TokenIssuer:
    """Fills in the claims runtime.tokens verifies and signs them with the key ring's active key."""

    def __init__(self, ring: KeyRing, *, access_ttl_seconds: int, visitor_ttl_seconds: int) -> None:
        self._ring = ring
        self.access_ttl_seconds = access_ttl_seconds
        self.visitor_ttl_seconds = visitor_ttl_seconds

    async def _mint(self, claims: dict[str, Any], ttl: int) -> Minted:
        now = int(time.time())
        claims |= {"iss": AUTH_ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
        claims["jti"] = secrets.token_urlsafe(16)
        return Minted(await self._ring.sign(claims), datetime.fromtimestamp(now + ttl, UTC))

    async def access_token(self, tenant_id: uuid.UUID, user_id: uuid.UUID, role_claim: str, session_id: str) -> Minted:
        """A user's access token bound to its session (`sid`), so revoking the session can be checked."""
        claims = {"sub": str(user_id), "tid": str(tenant_id), "role": role_claim, "typ": "access"}
        return await self._mint(claims | {"sid": session_id}, self.access_ttl_seconds)

    async def visitor_token(
        self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, visitor_id: str, verified: bool
    ) -> Minted:
        """A widget visitor's token, bound to one chatbot (`cid`)."""
        claims = {
            "sub": visitor_id,
            "tid": str(tenant_id),
            "cid": str(chatbot_id),
            "role": "visitor",
            "typ": "visitor",
            "vrf": verified,
        }
        return await self._mint(claims, self.visitor_ttl_seconds)
