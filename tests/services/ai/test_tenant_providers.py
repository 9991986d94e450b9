"""TenantProviders against the real database and Redis: clients are reused, rebuilt on change, and shared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from services.ai.credential_store import CredentialStore
from services.ai.credentials import CredentialStamps, ProviderCredentials
from services.ai.providers.base import ProviderConfig, ProviderKind
from services.ai.providers.catalog import build_provider
from services.ai.providers.openai_provider import OpenAIProvider
from services.ai.tenant_providers import TenantProviders
from services.runtime.db import Database
from services.runtime.sealing import Sealer
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port

PLATFORM = ProviderConfig(id="openai", base_url="http://127.0.0.1:9/v1", default_model="gpt-4.1-mini")


@dataclass
class Parts:
    """Two processes' worth of credentials and caches over one database and one Redis."""

    db: Database
    credentials: ProviderCredentials
    here: TenantProviders
    elsewhere: TenantProviders


def _credentials(db: Database, redis: aioredis.Redis, sealer: Sealer) -> ProviderCredentials:
    return ProviderCredentials(CredentialStore(db), sealer, CredentialStamps(redis, 60))


@pytest.fixture
async def parts(settings: RuntimeSettings, redis_client: aioredis.Redis) -> AsyncIterator[Parts]:
    """A credentials service with a cache in this 'process' and an independent one in another."""
    db = await Database.connect(settings, "ai")
    sealer = Sealer.from_settings("", settings.resolved_internal_secret(), setting="key", info=b"test")
    platform = {"openai": build_provider(PLATFORM)}
    here_credentials = _credentials(db, redis_client, sealer)
    there_credentials = _credentials(db, redis_client, sealer)
    here = TenantProviders([PLATFORM], platform, here_credentials, read_timeout=5.0)
    elsewhere = TenantProviders([PLATFORM], platform, there_credentials, read_timeout=5.0)
    yield Parts(db, here_credentials, here, elsewhere)
    await here.aclose()
    await elsewhere.aclose()
    await platform["openai"].aclose()
    await db.close()


async def test_clients_are_reused_until_the_credential_changes_in_any_process(parts: Parts) -> None:
    tenant = uuid.uuid4()
    platform = (await parts.here.for_tenant(tenant))["openai"]
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is platform

    await parts.credentials.set(tenant, "openai", "sk-first-key", "http://127.0.0.1:11434/v1", "tenants/x/users/y")
    first = (await parts.here.for_tenant(tenant))["openai"]
    assert first is not platform
    assert (await parts.here.for_tenant(tenant))["openai"] is first
    # The other cache saw no call of its own, only the moved stamp.
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is not platform

    await parts.credentials.set(tenant, "openai", "sk-second-key", "", "tenants/x/users/y")
    second = (await parts.here.for_tenant(tenant))["openai"]
    assert second is not first
    assert "sk-second-key" not in repr(second)

    await parts.credentials.delete(tenant, "openai")
    assert (await parts.here.for_tenant(tenant))["openai"] is platform
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is platform


async def test_concurrent_answers_after_a_change_share_one_new_client(parts: Parts) -> None:
    tenant = uuid.uuid4()
    await parts.credentials.set(tenant, "anthropic", "sk-ant-key", "", "tenants/x/users/y")

    found = await asyncio.gather(*(parts.here.for_tenant(tenant) for _ in range(20)))

    assert len({id(providers["anthropic"]) for providers in found}) == 1
    assert found[0]["openai"] is (await parts.here.for_tenant(uuid.uuid4()))["openai"]


async def test_tenant_config_uses_the_tenant_url_or_else_the_platform_endpoint(parts: Parts) -> None:
    tenant = uuid.uuid4()
    await parts.credentials.set(tenant, "openai", "sk-own", "http://10.0.0.5:8000/v1", "tenants/x/users/y")
    await parts.credentials.set(tenant, "gemini", "AIza-own", "", "tenants/x/users/y")
    keys = {k.provider: k for k in await parts.credentials.keys(tenant)}

    own_server = parts.here.config_for(keys["openai"])
    gemini = parts.here.config_for(keys["gemini"])

    assert (own_server.base_url, own_server.kind, own_server.api_key.get_secret_value()) == (
        "http://10.0.0.5:8000/v1",
        ProviderKind.SELF_HOSTED,
        "sk-own",
    )
    # No platform Gemini is configured: the vendor's endpoint and the catalogue's default model.
    assert (gemini.base_url, gemini.default_model) == (None, "gemini-2.5-flash")
    assert "sk-own" not in repr(own_server)
    assert "sk-own" not in repr(keys["openai"])
    assert isinstance((await parts.here.for_tenant(tenant))["openai"], OpenAIProvider)


async def test_without_redis_a_change_made_here_still_counts_and_others_trust_their_copy_briefly(
    parts: Parts, settings: RuntimeSettings
) -> None:
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    credentials = _credentials(parts.db, unreachable, Sealer.from_settings("", "s", setting="key", info=b"t"))
    cache = TenantProviders([PLATFORM], {}, credentials, read_timeout=5.0, without_stamp_age=3600)
    tenant = uuid.uuid4()
    try:
        assert "openai" not in await cache.for_tenant(tenant)
        # The set moves no stamp (Redis is down) but this process forgets its own copy at once.
        await credentials.set(tenant, "openai", "sk-no-redis", "", "tenants/x/users/y")
        assert "openai" in await cache.for_tenant(tenant)
    finally:
        await cache.aclose()
        await unreachable.aclose()


async def test_a_row_sealed_under_another_key_is_left_out(parts: Parts, settings: RuntimeSettings) -> None:
    tenant = uuid.uuid4()
    await parts.credentials.set(tenant, "openai", "sk-sealed-elsewhere", "", "tenants/x/users/y")
    other = ProviderCredentials(
        CredentialStore(parts.db),
        Sealer.from_settings("", "another internal secret", setting="key", info=b"test"),
        parts.credentials.stamps,
    )
    assert [k.provider for k in await parts.credentials.keys(tenant)] == ["openai"]
    assert await other.keys(tenant) == []
