"""Composition root of the auth service: database, Redis, key ring, tenant client, servicer, host."""

from __future__ import annotations

import redis.asyncio as aioredis
from argon2 import PasswordHasher

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.auth.api_keys import ApiKeys
from services.auth.credentials import CredentialChecker, SessionAwareAuthenticator
from services.auth.issuer import TokenIssuer
from services.auth.key_store import SigningKeyStore
from services.auth.keys import KeyCipher, KeyRing
from services.auth.passwords import Passwords
from services.auth.servicer import AuthServicer
from services.auth.sessions import SessionStore
from services.auth.settings import AuthSettings
from services.auth.sign_in import SignIn
from services.auth.store import AuthStore
from services.auth.tenants import TenantDirectory
from services.auth.throttle import LoginThrottle
from services.auth.users import Users
from services.runtime import server
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.pagination import PageTokens
from services.runtime.quota import PlanQuota
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import ServiceTokens

NAME = "auth"
SETTINGS = AuthSettings

#: Retired keys stay published this long past the longest token lifetime (clock skew, JWKS caches).
PUBLISH_MARGIN_SECONDS = 300


async def build(settings: RuntimeSettings, *, port: int | None = None) -> server.ServiceHost:
    """The auth server, not yet started; `settings` may be plain RuntimeSettings (auth defaults apply)."""
    config = AuthSettings.of(settings)
    secret = config.resolved_internal_secret()
    db = await Database.connect(config, NAME)
    redis = aioredis.Redis.from_url(config.redis_url)
    clients = Clients(config)
    service_tokens = ServiceTokens(secret, NAME)

    store = AuthStore(db)
    longest_token = max(config.auth_access_token_ttl_seconds, config.auth_visitor_token_ttl_seconds)
    ring = KeyRing(
        SigningKeyStore(db),
        KeyCipher(secret),
        rotation_seconds=config.auth_key_rotation_seconds,
        publish_seconds=longest_token + PUBLISH_MARGIN_SECONDS,
        cache_seconds=config.auth_key_cache_seconds,
    )
    await ring.active()  # fail fast on a broken database or secret, and have a key before the first login
    passwords = Passwords(
        PasswordHasher(
            time_cost=config.auth_password_time_cost,
            memory_cost=config.auth_password_memory_kib,
            parallelism=config.auth_password_parallelism,
        )
    )
    sessions = SessionStore(
        redis,
        refresh_ttl_seconds=config.auth_refresh_token_ttl_seconds,
        revoked_ttl_seconds=config.auth_access_token_ttl_seconds + PUBLISH_MARGIN_SECONDS,
    )
    tenants = TenantDirectory(clients.channel("tenant"), service_tokens)
    api_keys = ApiKeys(store, touch_seconds=config.auth_api_key_touch_seconds)
    issuer = TokenIssuer(
        ring,
        access_ttl_seconds=config.auth_access_token_ttl_seconds,
        visitor_ttl_seconds=config.auth_visitor_token_ttl_seconds,
    )
    throttle = LoginThrottle(
        redis,
        account_limit=config.auth_login_account_limit,
        address_limit=config.auth_login_address_limit,
        window_seconds=config.auth_login_window_seconds,
    )
    # Auth checks its own callers without calling itself: its key ring is the JWKS, its store the key table.
    authenticator = SessionAwareAuthenticator(service_tokens, ring, api_keys.validate, sessions)
    servicer = AuthServicer(
        store=store,
        users=Users(
            store,
            passwords,
            PlanQuota(
                tenant_pb2_grpc.TenantServiceStub(clients.channel("tenant")),
                service_tokens,
                tenant_pb2.LIMIT_KIND_SEATS,
            ),
        ),
        sign_in=SignIn(
            store=store, passwords=passwords, sessions=sessions, issuer=issuer, throttle=throttle, tenants=tenants
        ),
        api_keys=api_keys,
        credentials=CredentialChecker(authenticator, api_keys),
        issuer=issuer,
        ring=ring,
        page_tokens=PageTokens(secret),
        refresh_ttl_seconds=config.auth_refresh_token_ttl_seconds,
    )
    hosted = server.HostedService(
        descriptor=auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
        add_to_server=lambda s: auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, s),
    )
    host = server.build_host(NAME, config, [hosted], authenticator, port=port)
    host.closers += [db.close, redis.aclose, clients.close]
    return host


def main() -> None:
    """Runs the auth service until SIGTERM."""
    server.run(NAME, build, AuthSettings())


if __name__ == "__main__":
    main()
