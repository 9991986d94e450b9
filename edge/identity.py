"""Who a request counts against for rate limiting: a verified subject, an API key or the client address.

Access tokens are verified here (ES256 against the auth service's cached JWKS, no call per request),
so nobody can spend another user's budget by forging a `sub`. API keys are not checked here (the
services do, with a cache); they are counted by hash, and every request also counts against its
client address, so inventing keys does not escape the address ceiling.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from edge.errors import EdgeError
from edge.forwarding import authorization_of, bearer_credential
from edge.ratelimit import Bucket
from edge.settings import EdgeSettings
from services.runtime.errors import ServiceError
from services.runtime.tokens import API_KEY_PREFIX, Authenticator

log = logging.getLogger(__name__)


class Identifier:
    """Maps request headers and the client address to the buckets a request counts against."""

    def __init__(self, settings: EdgeSettings, authenticator: Authenticator) -> None:
        self._settings = settings
        self._authenticator = authenticator

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
        """`kind:tenant:subject` of a token that verifies, else None (the Authenticator remembers verified ones)."""
        try:
            principal = await self._authenticator.authenticate(f"Bearer {token}")
        except ServiceError:
            return None  # expired or forged: the service will answer 401; count it as anonymous
        except Exception:
            log.warning("could not verify a token for rate limiting", exc_info=True)
            return None
        return f"{principal.kind}:{principal.tenant_id}:{principal.subject}"
