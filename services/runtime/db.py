"""PostgreSQL access for a service: a pool per shard and transactions scoped to one tenant.

Every connection acts as the service's own role (`avatarchat_<service>`), which may touch only that
service's schema, and every statement runs with `app.tenant_id` set, which row-level security policies
compare with each row's `tenant_id`. A WHERE clause that forgets the tenant therefore still cannot leak
another tenant. Transactions set the tenant locally; a single statement outside one (`tenant_statement`)
runs under a session-level tenant that its connection remembers, so it costs one round trip, not three.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import asyncpg

from services.runtime import embedded_pg
from services.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    # What a pool hands out: a proxy of a ServiceConnection (asyncpg types it as a plain connection).
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


if TYPE_CHECKING:
    _Connection: TypeAlias = asyncpg.Connection[asyncpg.Record]
else:
    _Connection = asyncpg.Connection


class ServiceConnection(_Connection):
    """A pooled connection that remembers which tenant its session is set to."""

    __slots__ = ("_session_tenant",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_tenant: uuid.UUID | None = None

    async def use_tenant(self, tenant_id: uuid.UUID) -> None:
        """Sets the session's tenant for the statements that follow outside a transaction (a round trip only
        when it changes).

        Only ever set outside a transaction: a session-level setting made inside one would be undone by its
        rollback, behind this record's back.
        """
        if self._session_tenant == tenant_id:
            return
        if self.is_in_transaction():
            raise RuntimeError("the session's tenant is only set outside a transaction")
        # Unknown until the server confirms: a failed or cancelled set is made again by the next use.
        self._session_tenant = None
        await self.execute(f"SELECT set_config('app.tenant_id', '{uuid.UUID(str(tenant_id))}', false)")
        self._session_tenant = tenant_id


def _init_for(role: str) -> Callable[[asyncpg.Connection], Coroutine[Any, Any, None]]:
    async def init(conn: asyncpg.Connection) -> None:
        # jsonb in and out as Python objects, so stores never call json.dumps themselves.
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        # The service's role for the whole session: nothing this pool runs needs more.
        await conn.execute(f"SELECT set_config('role', '{role}', false)")

    return init


async def _keep_session(conn: asyncpg.Connection) -> None:
    # Pool release would otherwise send RESET ALL, UNLISTEN * and the rest: a round trip per use for nothing,
    # and it would drop the role and the tenant ServiceConnection remembers. asyncpg still rolls back an open
    # transaction and drops listener callbacks before calling this.
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
                url,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                init=_init_for(self.role),
                reset=_keep_session,
                connection_class=ServiceConnection,
            )
            self._pools[shard] = pool
        return pool

    async def pool_for(self, tenant_id: uuid.UUID | None) -> asyncpg.Pool:
        """The pool of the shard that holds `tenant_id` (platform-wide data lives on the default)."""
        shard = DEFAULT_SHARD if tenant_id is None else await self._resolver(tenant_id)
        return await self._pool(shard)

    def _begin(self, tenant_id: uuid.UUID | None) -> str:
        """BEGIN with the role and tenant for the transaction, in one round trip; no tenant clears the one a
        session may still hold from `tenant_statement`."""
        # A UUID's text and the role name need no quoting beyond this.
        tenant = "" if tenant_id is None else uuid.UUID(str(tenant_id))
        return f"BEGIN; SELECT set_config('role', '{self.role}', true), set_config('app.tenant_id', '{tenant}', true)"

    @asynccontextmanager
    async def tenant_tx(self, tenant_id: uuid.UUID) -> AsyncIterator[Connection]:
        """A transaction as the service role that sees only `tenant_id`'s rows."""
        pool = await self.pool_for(tenant_id)
        async with _transaction(pool, self._begin(tenant_id)) as conn:
            yield conn

    @asynccontextmanager
    async def tenant_statement(self, tenant_id: uuid.UUID) -> AsyncIterator[Connection]:
        """A connection outside any transaction whose session sees only `tenant_id`'s rows.

        For work that is one statement (a read, or a write whose parts a CTE joins), which PostgreSQL runs as its
        own transaction: no BEGIN and no COMMIT to wait for, and no round trip for the tenant either when the
        connection's session already has it. Several statements here are each their own transaction; work that
        must be atomic across statements takes `tenant_tx`.
        """
        pool = await self.pool_for(tenant_id)
        async with pool.acquire() as conn:
            # The pool's proxy passes the call on to the ServiceConnection it wraps.
            await cast(ServiceConnection, conn).use_tenant(tenant_id)
            yield conn

    @asynccontextmanager
    async def platform_tx(self) -> AsyncIterator[Connection]:
        """A transaction as the service role with no tenant set: only platform-wide tables are visible."""
        pool = await self._pool(DEFAULT_SHARD)
        async with _transaction(pool, self._begin(None)) as conn:
            yield conn

    async def ping(self) -> None:
        """Raises when the default shard cannot answer."""
        pool = await self._pool(DEFAULT_SHARD)
        await pool.fetchval("SELECT 1")

    async def close(self) -> None:
        """Closes every pool."""
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
