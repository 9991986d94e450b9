"""Who a request counts against for rate limiting: a verified subject, an API key or the client address.

Access tokens are verified here (ES256 against the auth service's cached JWKS, no call per request),
so nobody can spend another user's budget by forging a `sub`. API keys are not checked here (the
services do, with a cache); they are counted by hash, and every request also counts against its
client address, so inventing keys does not escape the address ceiling.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping

import jwt

from edge.errors import EdgeError
from edge.forwarding import authorization_of, bearer_credential
from edge.ratelimit import Bucket
from edge.settings import EdgeSettings
from services.runtime.errors import ServiceError
from services.runtime.tokens import API_KEY_PREFIX, Authenticator

log = logging.getLogger(__name__)

#: Verified tokens are remembered this long (never past their expiry), so a token is checked about once a minute.
_VERIFIED_SECONDS = 60.0
_VERIFIED_MAX = 10_000


class Identifier:
    """Maps request headers and the client address to the buckets a request counts against."""

    def __init__(self, settings: EdgeSettings, authenticator: Authenticator) -> None:
        self._settings = settings
        self._authenticator = authenticator
        self._verified: dict[str, tuple[float, str]] = {}

    async def buckets(self, headers: Mapping[str, str], client: str) -> list[Bucket]:
        """The caller's own bucket first, then the address ceiling."""
        s = self._settings
        return [await self._principal(headers, client), Bucket(f"ip:{client}", s.rate_limit_address)]

    async def _principal(self, headers: Mapping[str, str], client: str) -> Bucket:
        s = self._settings
        try:
            credential = bearer_credential(authorization_of(headers))
        except EdgeError:
            credential = ""
        if credential.startswith(API_KEY_PREFIX):
            digest = hashlib.sha256(credential.encode()).hexdigest()[:32]
            return Bucket(f"key:{digest}", s.rate_limit_api_key)
        subject = await self._subject(credential) if credential else None
        if subject is not None:
            return Bucket(subject, s.rate_limit_user)
        return Bucket(f"anon:{client}", s.rate_limit_anonymous)

    async def _subject(self, token: str) -> str | None:
        """`kind:tenant:subject` of a token that verifies, else None."""
        now = time.monotonic()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            principal = await self._authenticator.authenticate(f"Bearer {token}")
        except ServiceError:
            return None  # expired or forged: the service will answer 401; count it as anonymous
        except Exception:
            log.warning("could not verify a token for rate limiting", exc_info=True)
            return None
        subject = f"{principal.kind}:{principal.tenant_id}:{principal.subject}"
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (now + min(_VERIFIED_SECONDS, _seconds_left(token)), subject)
        return subject


def _seconds_left(token: str) -> float:
    """Seconds until a (verified) token's `exp`; 0 when it has none."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return 0.0
    return max(0.0, float(exp) - time.time()) if isinstance(exp, int | float) else 0.0
