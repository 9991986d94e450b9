"""The providers that answer for a tenant: its own keys over the platform's, cached per tenant.

Building an SDK client per message would cost milliseconds and a connection pool each time, so opened clients
are cached per tenant and provider. While the `CredentialWatch` is listening, a set or delete in any AI process
arrives as a Redis message that drops the tenant's entry, and answers make no Redis call at all: a change reaches
this process within the time Redis takes to deliver the message, not strictly by the very next answer. While it
is not (Redis down, reconnecting, or no watcher), each answer compares the tenant's credentials stamp (one Redis
round trip) as before, and without Redis a cached entry is trusted for a few seconds. Every entry is reloaded from
the database after `max_age`. Clients replaced by a newer key are closed only after `retire_after`, so answers
already streaming finish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from services.ai.credential_watch import CredentialWatch
from services.ai.credentials import ProviderCredentials, TenantKey
from services.ai.providers.base import Provider, ProviderConfig, ProviderKind
from services.ai.providers.catalog import build_provider, describe

#: Database reads a reload makes when forgets keep arriving during them, before it stores its result as expired.
_READS = 3


@dataclass(slots=True)
class _Entry:
    stamp: str | None
    """The stamp read before loading; None when Redis did not answer or the watcher made the read unnecessary."""
    watched: bool
    """Loaded while the watcher was listening: there is no stamp to compare, so the stamp path reloads it."""
    loaded: float
    own: dict[str, tuple[bytes, Provider]]
    """The tenant's own providers by id, each with the fingerprint of the key it was built with."""
    providers: Mapping[str, Provider] = field(default_factory=dict)


class TenantProviders:
    """Maps a tenant to the providers its bots may use; `for_tenant` is on the answer path, so it stays cheap."""

    def __init__(
        self,
        platform_configs: Sequence[ProviderConfig],
        platform: Mapping[str, Provider],
        credentials: ProviderCredentials,
        *,
        read_timeout: float,
        max_age: float = 60.0,
        without_stamp_age: float = 5.0,
        retire_after: float = 300.0,
        max_tenants: int = 1024,
        build: Callable[[ProviderConfig], Provider] = build_provider,
        watch: CredentialWatch | None = None,
    ) -> None:
        self._configs = {c.id: c for c in platform_configs}
        self._platform = dict(platform)
        self._credentials = credentials
        self._stamps = credentials.stamps
        self._read_timeout = read_timeout
        self._max_age = max_age
        self._without_stamp_age = without_stamp_age
        self._retire_after = retire_after
        self._max_tenants = max_tenants
        self._build = build
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        self._loading: dict[uuid.UUID, asyncio.Task[Mapping[str, Provider]]] = {}
        self._retired: list[tuple[float, Provider]] = []
        self._watch = watch
        # Bumped by every forget: a reload that read the database under an older value may hold a stale copy.
        self._generation = 0
        credentials.subscribe(self.forget)
        if watch is not None:
            watch.add(self)

    def _listening(self) -> bool:
        """Whether every change since the subscription was confirmed comes as a message that expires entries."""
        return self._watch is not None and self._watch.listening

    def known(self, tenant_id: uuid.UUID) -> Mapping[str, Provider] | None:
        """The tenant's providers when the watcher vouches for the cached entry, without waiting; else None."""
        if not self._listening():
            return None
        # Every change since the subscription was confirmed comes as a message that expires the entry.
        entry = self._entries.get(tenant_id)
        if entry is None or time.monotonic() - entry.loaded >= self._max_age:
            return None
        self._entries.move_to_end(tenant_id)
        return entry.providers

    async def for_tenant(self, tenant_id: uuid.UUID) -> Mapping[str, Provider]:
        """The platform's providers with the tenant's own keys in place of the platform's, by provider id."""
        known = self.known(tenant_id)
        if known is not None:
            return known
        if self._listening():
            return await self._load(tenant_id, None, watched=True)
        stamp = await self._stamps.current(tenant_id)
        entry = self._entries.get(tenant_id)
        if entry is not None and self._fresh(entry, stamp):
            self._entries.move_to_end(tenant_id)
            return entry.providers
        return await self._load(tenant_id, stamp, watched=False)

    async def _load(self, tenant_id: uuid.UUID, stamp: str | None, *, watched: bool) -> Mapping[str, Provider]:
        task = self._loading.get(tenant_id)
        if task is None:
            # Concurrent answers of one tenant share a single reload (and a single set of clients).
            task = asyncio.ensure_future(self._reload(tenant_id, stamp, watched))
            self._loading[tenant_id] = task
            task.add_done_callback(lambda done: self._loaded(tenant_id, done))
        return await asyncio.shield(task)

    def _loaded(self, tenant_id: uuid.UUID, task: asyncio.Task[Mapping[str, Provider]]) -> None:
        self._loading.pop(tenant_id, None)
        if not task.cancelled():
            # Marks a failure as seen even when every answer that waited for this reload has gone away.
            task.exception()

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drops this process's cached entry at once (after a set or delete served here or heard of)."""
        self._generation += 1
        entry = self._entries.get(tenant_id)
        if entry is not None:
            entry.loaded = float("-inf")

    def forget_all(self) -> None:
        """Drops every cached entry (the watcher may have missed changes)."""
        self._generation += 1
        for entry in self._entries.values():
            entry.loaded = float("-inf")

    def config_for(self, key: TenantKey) -> ProviderConfig:
        """The platform's settings for the provider with the tenant's key, and the tenant's base URL if it gave one."""
        base = self._configs.get(key.provider) or ProviderConfig(
            id=key.provider,
            default_model=describe(ProviderConfig(id=key.provider)).default_model,
            read_timeout=self._read_timeout,
        )
        config = base.with_key(key.api_key.get_secret_value())
        if key.base_url:
            # A tenant's own server for "openai" is an OpenAI-compatible one, which knows max_tokens only.
            kind = ProviderKind.SELF_HOSTED if key.provider == "openai" else base.kind
            config = dataclasses.replace(config, base_url=key.base_url, kind=kind)
        return config

    async def aclose(self) -> None:
        """Closes every client this cache built (the platform's own are closed by their owner)."""
        providers = [p for _, p in self._retired]
        providers += [p for entry in self._entries.values() for _, p in entry.own.values()]
        self._retired.clear()
        self._entries.clear()
        for provider in providers:
            await provider.aclose()

    def _fresh(self, entry: _Entry, stamp: str | None) -> bool:
        if entry.watched:
            return False
        age = time.monotonic() - entry.loaded
        if stamp is None:
            return age < self._without_stamp_age
        return entry.stamp == stamp and age < self._max_age

    async def _reload(self, tenant_id: uuid.UUID, stamp: str | None, watched: bool) -> Mapping[str, Provider]:
        for _ in range(_READS):
            generation = self._generation
            keys = await self._credentials.keys(tenant_id)
            # A forget during the read (of this tenant or, rarely, another) may mean the read missed a change.
            if generation == self._generation:
                break
        old = self._entries.pop(tenant_id, None)
        previous = old.own if old is not None else {}
        own: dict[str, tuple[bytes, Provider]] = {}
        for key in keys:
            kept = previous.pop(key.provider, None)
            if kept is not None and kept[0] == key.fingerprint:
                own[key.provider] = kept
            else:
                if kept is not None:
                    self._retire(kept[1])
                own[key.provider] = (key.fingerprint, self._build(self.config_for(key)))
        for _, provider in previous.values():
            self._retire(provider)
        providers = self._platform if not own else {**self._platform, **{p: v[1] for p, v in own.items()}}
        # Still forgotten during the last read: its waiting answers get it, but it is stored already expired.
        loaded = time.monotonic() if generation == self._generation else float("-inf")
        self._entries[tenant_id] = _Entry(stamp, watched, loaded, own, providers)
        while len(self._entries) > self._max_tenants:
            _, evicted = self._entries.popitem(last=False)
            for _, provider in evicted.own.values():
                self._retire(provider)
        await self._close_retired()
        return providers

    def _retire(self, provider: Provider) -> None:
        self._retired.append((time.monotonic() + self._retire_after, provider))

    async def _close_retired(self) -> None:
        now = time.monotonic()
        due = [p for at, p in self._retired if at <= now]
        self._retired = [(at, p) for at, p in self._retired if at > now]
        for provider in due:
            await provider.aclose()
