"""PostgreSQL access for a service: a pool per shard and transactions scoped to one tenant.

Every transaction switches to the service's own role (`avatarchat_<service>`), which may touch only
that service's schema, and sets `app.tenant_id`, which row-level security policies compare with each
row's `tenant_id`. A WHERE clause that forgets the tenant therefore still cannot leak another tenant.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from services.runtime import embedded_pg
from services.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.pool.PoolConnectionProxy

DEFAULT_SHARD = "default"

#: Resolves the shard id a tenant's rows live on.
ShardResolver = Callable[[uuid.UUID], Awaitable[str]]


async def default_resolver(tenant_id: uuid.UUID) -> str:
    """Every tenant lives on the default shard (the seam for more)."""
    return DEFAULT_SHARD


def database_url(settings: RuntimeSettings) -> str:
    """The default shard's URL: the configured one, or the embedded PostgreSQL under data_dir."""
    if settings.database_url:
        return settings.database_url
    return embedded_pg.ensure_database(settings.data_dir)


def shard_urls(settings: RuntimeSettings) -> dict[str, str]:
    """Every shard's URL by id; `default` always exists."""
    return {DEFAULT_SHARD: database_url(settings), **settings.shard_urls}


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, so stores never call json.dumps themselves.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    # Pool release would otherwise send RESET ALL, UNLISTEN * and the rest: a round trip per transaction for
    # nothing, as every setting here is transaction-local. asyncpg still rolls back an open transaction and
    # drops listener callbacks before calling this.
    return None


@asynccontextmanager
async def _transaction(pool: asyncpg.Pool, begin: str) -> AsyncIterator[Connection]:
    """A pooled connection in a transaction that `begin` opens (BEGIN and its settings in one round trip).

    asyncpg refuses Connection.transaction() inside a transaction begun this way, so nothing nested can commit
    it early.
    """
    async with pool.acquire() as conn:
        await conn.execute(begin)
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")


async def _finish(pool: asyncpg.Pool, conn: Connection, statement: str) -> None:
    """Ends a transaction begun by `tenant_read` and gives the connection back."""
    try:
        if not conn.is_closed():
            await conn.execute(statement)
    finally:
        await pool.release(conn)


class Database:
    """A service's pools, one per shard, opened lazily and routed by tenant."""

    def __init__(
        self,
        service: str,
        urls: Mapping[str, str],
        *,
        resolver: ShardResolver = default_resolver,
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        self.service = service
        self.role = f"avatarchat_{service}"
        self._urls = dict(urls)
        self._resolver = resolver
        self._pools: dict[str, asyncpg.Pool] = {}
        self._sizes = (min_size, max_size)
        # Read transactions being ended after their caller moved on (see tenant_read).
        self._ending: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, settings: RuntimeSettings, service: str, **kwargs: object) -> Database:
        """Opens the default shard's pool; others open on first use."""
        db = cls(service, shard_urls(settings), **kwargs)  # type: ignore[arg-type]
        await db._pool(DEFAULT_SHARD)
        return db

    async def _pool(self, shard: str) -> asyncpg.Pool:
        pool = self._pools.get(shard)
        if pool is None:
            url = self._urls.get(shard)
            if url is None:
                raise LookupError(f"no database configured for shard {shard!r}")
            pool = await asyncpg.create_pool(
                url, min_size=self._sizes[0], max_size=self._sizes[1], init=_init_connection, reset=_keep_session
            )
            self._pools[shard] = pool
        return pool

    async def pool_for(self, tenant_id: uuid.UUID | None) -> asyncpg.Pool:
        """The pool of the shard that holds `tenant_id` (platform-wide data lives on the default)."""
        shard = DEFAULT_SHARD if tenant_id is None else await self._resolver(tenant_id)
        return await self._pool(shard)

    def _begin(self, tenant_id: uuid.UUID, mode: str = "") -> str:
        # A UUID's text and the role name need no quoting beyond this.
        return (
            f"BEGIN{mode}; SELECT set_config('role', '{self.role}', true),"
            f" set_config('app.tenant_id', '{uuid.UUID(str(tenant_id))}', true)"
        )

    @asynccontextmanager
    async def tenant_tx(self, tenant_id: uuid.UUID) -> AsyncIterator[Connection]:
        """A transaction as the service role that sees only `tenant_id`'s rows."""
        pool = await self.pool_for(tenant_id)
        async with _transaction(pool, self._begin(tenant_id)) as conn:
            yield conn

    @asynccontextmanager
    async def tenant_read(self, tenant_id: uuid.UUID) -> AsyncIterator[Connection]:
        """A read-only `tenant_tx` whose end the caller does not wait for.

        Once the reads are done nothing depends on the COMMIT, so it is sent (and the connection released)
        in the background: one round trip less on a path such as SendMessage's, where the read precedes the
        answer. READ ONLY makes PostgreSQL refuse any write attempted in it.
        """
        pool = await self.pool_for(tenant_id)
        conn = await pool.acquire()
        try:
            await conn.execute(self._begin(tenant_id, " READ ONLY"))
            yield conn
        except BaseException:
            await _finish(pool, conn, "ROLLBACK")
            raise
        task = asyncio.get_running_loop().create_task(_finish(pool, conn, "COMMIT"))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    @asynccontextmanager
    async def platform_tx(self) -> AsyncIterator[Connection]:
        """A transaction as the service role with no tenant set: only platform-wide tables are visible."""
        pool = await self._pool(DEFAULT_SHARD)
        async with _transaction(pool, f"BEGIN; SELECT set_config('role', '{self.role}', true)") as conn:
            yield conn

    async def ping(self) -> None:
        """Raises when the default shard cannot answer."""
        pool = await self._pool(DEFAULT_SHARD)
        await pool.fetchval("SELECT 1")

    async def close(self) -> None:
        """Closes every pool (after the read transactions still ending)."""
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
