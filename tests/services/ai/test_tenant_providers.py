"""TenantProviders against the real database and Redis: clients are reused, rebuilt on change, and shared.

Each "process" has its own cache, credentials service and CredentialWatch (a subscription of its own, named so a
test can find and kill exactly that connection: the Redis server is shared with other suites).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from services.ai.credential_store import CredentialRow, CredentialStore
from services.ai.credential_watch import CredentialWatch
from services.ai.credentials import CredentialStamps, ProviderCredentials
from services.ai.providers.base import Provider, ProviderConfig, ProviderKind
from services.ai.providers.catalog import build_provider
from services.ai.providers.openai_provider import OpenAIProvider
from services.ai.tenant_providers import TenantProviders
from services.runtime.db import Database
from services.runtime.sealing import Sealer
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.ai.holding_proxy import HoldingProxy, postgres_opener, proxied_postgres_url

PLATFORM = ProviderConfig(id="openai", base_url="http://127.0.0.1:9/v1", default_model="gpt-4.1-mini")
STAMP = "ai:credentials:stamp:"
USER = "tenants/x/users/y"


@dataclass
class Parts:
    """Two processes' worth of credentials, caches and watchers over one database and one Redis."""

    db: Database
    redis: aioredis.Redis
    sealer: Sealer
    credentials: ProviderCredentials
    here: TenantProviders
    elsewhere: TenantProviders
    here_watch: CredentialWatch
    elsewhere_watch: CredentialWatch


@dataclass
class Heard:
    """A listener of a watcher that only writes down what it was told."""

    tenants: list[uuid.UUID] = field(default_factory=list)
    everything: int = 0

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Notes the tenant."""
        self.tenants.append(tenant_id)

    def forget_all(self) -> None:
        """Counts the call."""
        self.everything += 1


def _credentials(db: Database, redis: aioredis.Redis, sealer: Sealer) -> ProviderCredentials:
    return ProviderCredentials(CredentialStore(db), sealer, CredentialStamps(redis, 60))


def _watch(settings: RuntimeSettings, **kwargs: float) -> tuple[CredentialWatch, str]:
    name = f"test-credential-watch-{uuid.uuid4().hex[:12]}"
    return CredentialWatch(settings.redis_url, client_name=name, **kwargs), name


async def _until(condition: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def _openai_when(
    cache: TenantProviders, tenant: uuid.UUID, wanted: Callable[[Provider], bool], within: float = 5.0
) -> Provider:
    """The tenant's `openai` provider once `wanted` accepts it, or the last one seen after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        provider = (await cache.for_tenant(tenant))["openai"]
        if wanted(provider) or time.monotonic() > deadline:
            return provider
        await asyncio.sleep(0.005)


async def _subscriber_ids(redis: aioredis.Redis, name: str) -> list[str]:
    return [c["id"] for c in await redis.client_list(_type="pubsub") if c.get("name") == name]


@pytest.fixture
async def parts(settings: RuntimeSettings, redis_client: aioredis.Redis) -> AsyncIterator[Parts]:
    """A credentials service with a cache in this 'process' and an independent one in another, both subscribed."""
    db = await Database.connect(settings, "ai")
    sealer = Sealer.from_settings("", settings.resolved_internal_secret(), setting="key", info=b"test")
    platform = {"openai": build_provider(PLATFORM)}
    here_credentials = _credentials(db, redis_client, sealer)
    there_credentials = _credentials(db, redis_client, sealer)
    (here_watch, _), (elsewhere_watch, _) = _watch(settings), _watch(settings)
    here = TenantProviders([PLATFORM], platform, here_credentials, read_timeout=5.0, watch=here_watch)
    elsewhere = TenantProviders([PLATFORM], platform, there_credentials, read_timeout=5.0, watch=elsewhere_watch)
    here_watch.start()
    elsewhere_watch.start()
    try:
        assert await _until(lambda: here_watch.listening and elsewhere_watch.listening)
        yield Parts(db, redis_client, sealer, here_credentials, here, elsewhere, here_watch, elsewhere_watch)
    finally:
        await here_watch.stop()
        await elsewhere_watch.stop()
        await here.aclose()
        await elsewhere.aclose()
        await platform["openai"].aclose()
        await db.close()


async def test_clients_are_reused_until_the_credential_changes_in_any_process(parts: Parts) -> None:
    """Both processes subscribed: the other one hears of each change by message, so it is polled for (bounded)."""
    tenant = uuid.uuid4()
    platform = (await parts.here.for_tenant(tenant))["openai"]
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is platform

    await parts.credentials.set(tenant, "openai", "sk-first-key", "http://127.0.0.1:11434/v1", USER)
    first = (await parts.here.for_tenant(tenant))["openai"]
    assert first is not platform
    assert (await parts.here.for_tenant(tenant))["openai"] is first
    # The other cache saw no call of its own, only the message its watcher received.
    assert await _openai_when(parts.elsewhere, tenant, lambda p: p is not platform) is not platform

    await parts.credentials.set(tenant, "openai", "sk-second-key", "", USER)
    second = (await parts.here.for_tenant(tenant))["openai"]
    assert second is not first
    assert "sk-second-key" not in repr(second)

    await parts.credentials.delete(tenant, "openai")
    assert (await parts.here.for_tenant(tenant))["openai"] is platform
    assert await _openai_when(parts.elsewhere, tenant, lambda p: p is platform) is platform


async def test_without_a_subscription_the_other_process_sees_a_change_at_the_very_next_answer(parts: Parts) -> None:
    """The not-listening path: the stamp compared per answer, so no polling."""
    await parts.elsewhere_watch.stop()
    tenant = uuid.uuid4()
    platform = (await parts.elsewhere.for_tenant(tenant))["openai"]
    assert await parts.redis.exists(STAMP + str(tenant)) == 1  # the answer read (and created) the stamp

    await parts.credentials.set(tenant, "openai", "sk-at-once", "", USER)
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is not platform
    await parts.credentials.delete(tenant, "openai")
    assert (await parts.elsewhere.for_tenant(tenant))["openai"] is platform


async def test_while_listening_answers_read_no_stamp(parts: Parts) -> None:
    # The stamp is read with SET NX GET, which would recreate a deleted key. (INFO commandstats would count
    # every client of this shared server, other suites' SETs included.)
    tenant = uuid.uuid4()
    key = STAMP + str(tenant)
    platform = (await parts.elsewhere.for_tenant(tenant))["openai"]
    assert await parts.redis.exists(key) == 0

    await parts.credentials.set(tenant, "openai", "sk-watched", "", USER)
    assert await parts.redis.exists(key) == 1  # moved by the set
    await parts.redis.delete(key)
    own = await _openai_when(parts.elsewhere, tenant, lambda p: p is not platform)
    assert own is not platform
    for _ in range(5):
        assert (await parts.elsewhere.for_tenant(tenant))["openai"] is own
    assert await parts.redis.exists(key) == 0

    # The same answer from a process without a watcher does read it: the check above can see a read.
    unwatched = TenantProviders([PLATFORM], {}, parts.credentials, read_timeout=5.0)
    try:
        await unwatched.for_tenant(tenant)
        assert await parts.redis.exists(key) == 1
    finally:
        await unwatched.aclose()


async def test_a_lost_subscription_comes_back_and_drops_every_cached_tenant(
    parts: Parts, settings: RuntimeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # A third process whose watcher waits long enough before resubscribing for a change to fall in the gap.
    watch, name = _watch(settings, first_delay=1.0)
    cache = TenantProviders(
        [PLATFORM], {}, _credentials(parts.db, parts.redis, parts.sealer), read_timeout=5.0, watch=watch
    )
    watch.start()
    tenant, other = uuid.uuid4(), uuid.uuid4()
    try:
        assert await _until(lambda: watch.listening)
        [first_id] = await _subscriber_ids(parts.redis, name)
        assert "openai" not in await cache.for_tenant(tenant)
        assert "openai" not in await cache.for_tenant(other)

        with caplog.at_level(logging.WARNING, logger="services.ai.credential_watch"):
            # Only this watcher's connection: TYPE pubsub alone would cut every subscriber of the shared server.
            assert await parts.redis.client_kill_filter(_id=first_id, _type="pubsub") == 1
            assert await _until(lambda: not watch.listening)
            await parts.credentials.set(tenant, "openai", "sk-while-away", "", USER)
            await parts.credentials.set(other, "openai", "sk-also-away", "", USER)
            assert not watch.listening  # the messages went out while nobody of this process was subscribed

            assert await _until(lambda: watch.listening)
        [second_id] = await _subscriber_ids(parts.redis, name)
        assert second_id != first_id
        warnings = [r for r in caplog.records if r.name == "services.ai.credential_watch"]
        assert [r.levelno for r in warnings] == [logging.WARNING]
        assert "sk-" not in warnings[0].getMessage()

        # Resubscribed, so no stamp is read: the changes are found only because every entry was dropped.
        assert "openai" in await cache.for_tenant(tenant)
        assert "openai" in await cache.for_tenant(other)
    finally:
        await watch.stop()
        await cache.aclose()
    assert await _subscriber_ids(parts.redis, name) == []


async def test_a_reload_in_flight_when_a_change_arrives_is_not_kept_as_fresh(
    parts: Parts, settings: RuntimeSettings
) -> None:
    tenant = uuid.uuid4()
    old_url, new_url = f"http://old-{tenant.hex}.invalid/v1", f"http://new-{tenant.hex}.invalid/v1"
    await parts.credentials.set(tenant, "openai", "sk-old", old_url, USER)
    # The old row's reply is held after PostgreSQL ran the read: the reload has the old key in flight.
    proxy = HoldingProxy(postgres_opener(settings.database_url), old_url.encode())
    await proxy.start()
    db = Database("ai", {"default": proxied_postgres_url(settings.database_url, proxy.port)})
    built: dict[int, str | None] = {}

    def build(config: ProviderConfig) -> Provider:
        provider = build_provider(config)
        built[id(provider)] = config.base_url
        return provider

    watch, _ = _watch(settings)
    heard = Heard()
    cache = TenantProviders(
        [PLATFORM], {}, _credentials(db, parts.redis, parts.sealer), read_timeout=5.0, build=build, watch=watch
    )
    watch.add(heard)
    watch.start()
    try:
        await db.ping()
        assert await _until(lambda: watch.listening)
        in_flight = asyncio.ensure_future(cache.for_tenant(tenant))
        await asyncio.wait_for(proxy.holding.wait(), 5)

        await parts.credentials.set(tenant, "openai", "sk-new", new_url, USER)  # another process, another pool
        assert await _until(lambda: tenant in heard.tenants)
        proxy.release()
        await in_flight

        now = (await cache.for_tenant(tenant))["openai"]
        assert built[id(now)] == new_url
        assert (await cache.for_tenant(tenant))["openai"] is now
    finally:
        proxy.release()
        await watch.stop()
        await cache.aclose()
        await db.close()
        await proxy.close()


async def test_entries_loaded_while_listening_are_reloaded_once_the_stamp_path_is_back(parts: Parts) -> None:
    # Stamps on an unreachable Redis: on the stamp path every read says "unknown", where a cached entry is
    # normally trusted for `without_stamp_age`. One loaded while listening has no stamp and must not be.
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    credentials = _credentials(parts.db, unreachable, parts.sealer)
    cache = TenantProviders(
        [PLATFORM], {}, credentials, read_timeout=5.0, without_stamp_age=3600, watch=parts.elsewhere_watch
    )
    tenant = uuid.uuid4()
    try:
        assert "openai" not in await cache.for_tenant(tenant)
        await parts.elsewhere_watch.stop()  # no message can reach it from now on
        await parts.credentials.set(tenant, "openai", "sk-after-the-subscription", "", USER)
        assert "openai" in await cache.for_tenant(tenant)
    finally:
        await cache.aclose()
        await unreachable.aclose()


async def test_a_quiet_subscription_answers_its_pings_and_stays(settings: RuntimeSettings) -> None:
    watch, _ = _watch(settings, ping_every=0.05)
    heard = Heard()
    watch.add(heard)
    watch.start()
    try:
        assert await _until(lambda: watch.listening)
        await asyncio.sleep(0.5)
        assert watch.listening
        assert heard.everything == 1  # subscribed once: no ping went unanswered
    finally:
        await watch.stop()
    assert not watch.listening


class CountedStore(CredentialStore):
    """The credential store, counting the reads of a tenant's rows."""

    reads = 0

    async def rows(self, tenant_id: uuid.UUID) -> list[CredentialRow]:
        """The rows, as the store reads them."""
        self.reads += 1
        return await super().rows(tenant_id)


async def test_concurrent_answers_after_a_change_share_one_read_and_one_new_client(
    parts: Parts, settings: RuntimeSettings
) -> None:
    tenant = uuid.uuid4()
    store = CountedStore(parts.db)
    watch, _ = _watch(settings)
    credentials = ProviderCredentials(store, parts.sealer, CredentialStamps(parts.redis, 60))
    cache = TenantProviders([PLATFORM], {}, credentials, read_timeout=5.0, watch=watch)
    watch.start()
    try:
        # Watched, every answer goes straight to the database on a miss, with nothing to wait for before it.
        assert await _until(lambda: watch.listening)
        await parts.credentials.set(tenant, "anthropic", "sk-ant-key", "", USER)

        found = await asyncio.gather(*(cache.for_tenant(tenant) for _ in range(20)))

        assert store.reads == 1, "twenty answers waiting on one change read the credentials once"
        assert len({id(providers["anthropic"]) for providers in found}) == 1
    finally:
        await watch.stop()
        await cache.aclose()
    mine = await parts.here.for_tenant(tenant)
    assert mine["openai"] is (await parts.here.for_tenant(uuid.uuid4()))["openai"], "the platform's client is shared"


async def test_tenant_config_uses_the_tenant_url_or_else_the_platform_endpoint(parts: Parts) -> None:
    tenant = uuid.uuid4()
    await parts.credentials.set(tenant, "openai", "sk-own", "http://10.0.0.5:8000/v1", USER)
    await parts.credentials.set(tenant, "gemini", "AIza-own", "", USER)
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
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    unreachable = aioredis.Redis.from_url(url, socket_connect_timeout=0.5)
    credentials = _credentials(parts.db, unreachable, Sealer.from_settings("", "s", setting="key", info=b"t"))
    watch = CredentialWatch(url, connect_timeout=0.5)
    cache = TenantProviders([PLATFORM], {}, credentials, read_timeout=5.0, without_stamp_age=3600, watch=watch)
    # Another process on the same unreachable Redis: no stamp and no message tells it of the change.
    other_credentials = _credentials(parts.db, unreachable, Sealer.from_settings("", "s", setting="key", info=b"t"))
    other = TenantProviders([PLATFORM], {}, other_credentials, read_timeout=5.0, without_stamp_age=2.0)
    tenant = uuid.uuid4()
    try:
        with caplog.at_level(logging.WARNING, logger="services.ai.credential_watch"):
            watch.start()
            assert "openai" not in await cache.for_tenant(tenant)
            assert "openai" not in await other.for_tenant(tenant)
            # The set moves no stamp (Redis is down) but this process forgets its own copy at once.
            await credentials.set(tenant, "openai", "sk-no-redis", "", USER)
            assert "openai" in await cache.for_tenant(tenant)
            assert "openai" not in await other.for_tenant(tenant), "the other process trusts its copy for a while"
            await asyncio.sleep(0.4)  # a few more attempts to subscribe
        assert not watch.listening
        assert len([r for r in caplog.records if r.name == "services.ai.credential_watch"]) == 1
        await asyncio.sleep(1.7)
        assert "openai" in await other.for_tenant(tenant), "and reads the database again once its copy is 2 s old"
    finally:
        await watch.stop()
        await cache.aclose()
        await other.aclose()
        await unreachable.aclose()


async def test_a_row_sealed_under_another_key_is_left_out(parts: Parts, settings: RuntimeSettings) -> None:
    tenant = uuid.uuid4()
    await parts.credentials.set(tenant, "openai", "sk-sealed-elsewhere", "", USER)
    other = ProviderCredentials(
        CredentialStore(parts.db),
        Sealer.from_settings("", "another internal secret", setting="key", info=b"test"),
        parts.credentials.stamps,
    )
    assert [k.provider for k in await parts.credentials.keys(tenant)] == ["openai"]
    assert await other.keys(tenant) == []
