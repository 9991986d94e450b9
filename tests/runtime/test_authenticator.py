"""Authenticator: a verified JWT is reused until its expiry or a minute, and nothing unverified is remembered."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.runtime import errors
from services.runtime.context import Principal
from services.runtime.tokens import AUDIENCE, AUTH_ISSUER, Authenticator, ServiceTokens

KID = "test-key"


class CountingJwks:
    """A JWKS with one real P-256 key that counts how often a key is looked up (each lookup is a verification)."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.public = jwt.PyJWK.from_dict(
            {**jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": KID, "alg": "ES256"}
        )
        self.lookups = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The one key, by its id."""
        self.lookups += 1
        return self.public if kid == KID else None

    def token(self, lifetime: float, private: ec.EllipticCurvePrivateKey | None = None) -> str:
        """An owner's access token that expires `lifetime` seconds from now."""
        now = time.time()
        claims = {
            "iss": AUTH_ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "tid": str(uuid.uuid4()),
            "role": "owner",
            "typ": "access",
            "sid": "s1",
            "iat": int(now),
            "exp": now + lifetime,
        }
        return jwt.encode(claims, private or self.private, algorithm="ES256", headers={"kid": KID})


async def _no_api_keys(credential: str) -> Principal:
    raise errors.Unauthenticated("no API keys here")


def authenticator(jwks: CountingJwks, **kwargs: float) -> Authenticator:
    return Authenticator(ServiceTokens("secret-" * 6, "test"), jwks, _no_api_keys, **kwargs)


async def test_a_verified_token_is_not_verified_again() -> None:
    jwks = CountingJwks()
    auth = authenticator(jwks)
    token = jwks.token(600)
    first = await auth.authenticate(f"Bearer {token}")
    again = await auth.authenticate(f"Bearer {token}")
    assert again == first
    assert jwks.lookups == 1
    await auth.authenticate(f"Bearer {jwks.token(600)}")
    assert jwks.lookups == 2  # another token is verified on its own


async def test_a_remembered_token_still_expires_on_time() -> None:
    jwks = CountingJwks()
    auth = authenticator(jwks)
    token = jwks.token(1.0)
    await auth.authenticate(f"Bearer {token}")
    await asyncio.sleep(1.1)
    with pytest.raises(errors.Unauthenticated, match="expired"):
        await auth.authenticate(f"Bearer {token}")


async def test_a_forged_token_is_refused_every_time() -> None:
    jwks = CountingJwks()
    auth = authenticator(jwks)
    forged = jwks.token(600, private=ec.generate_private_key(ec.SECP256R1()))
    for _ in range(2):
        with pytest.raises(errors.Unauthenticated, match="invalid token"):
            await auth.authenticate(f"Bearer {forged}")
    assert jwks.lookups == 2


async def test_remember_seconds_zero_checks_every_call() -> None:
    jwks = CountingJwks()
    auth = authenticator(jwks, remember_seconds=0)
    token = jwks.token(600)
    for _ in range(3):
        await auth.authenticate(f"Bearer {token}")
    assert jwks.lookups == 3
