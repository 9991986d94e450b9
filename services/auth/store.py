"""SQL of the auth service: users and their external identities, and API keys, each in its tenant's scope."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.runtime import errors
from services.runtime.db import Connection, Database
from services.runtime.names import tenant_name


@dataclass(frozen=True)
class UserRow:
    """A user as stored; `role` is a role claim name (`member`, `admin`, `owner`, `platform_admin`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    display_name: str
    role: str
    password_hash: str | None
    last_login_time: datetime | None
    create_time: datetime
    external_identities: tuple[tuple[str, str], ...] = field(default=())
    """Linked (issuer, subject) pairs."""


@dataclass(frozen=True)
class NewUser:
    """What CreateUser stores."""

    email: str
    display_name: str
    role: str
    password_hash: str | None


@dataclass(frozen=True)
class ApiKeyRow:
    """An API key as stored, without its secret hash."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    display_name: str
    scopes: tuple[str, ...]
    prefix: str
    expire_time: datetime | None
    last_used_time: datetime | None
    create_time: datetime


@dataclass(frozen=True)
class NewApiKey:
    """What CreateApiKey stores."""

    id: uuid.UUID
    display_name: str
    scopes: tuple[str, ...]
    prefix: str
    secret_hash: bytes
    created_by: str
    expire_time: datetime | None


@dataclass(frozen=True)
class FoundApiKey:
    """The slice of a key that validation needs, found before its tenant is known."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: tuple[str, ...]
    expire_time: datetime | None
    last_used_time: datetime | None


#: Roles that count as owning a tenant: a platform admin can do everything an owner can, so a tenant whose
#: only owner became a platform admin (the platform's own tenant) still has someone who owns it.
OWNING_ROLES = ("owner", "platform_admin")

#: Keyset cursor of a listing: the last row's create_time and id.
Cursor = tuple[datetime, uuid.UUID]

_USER_COLUMNS = "id, tenant_id, email, display_name, role, password_hash, last_login_time, create_time"
_KEY_COLUMNS = "id, tenant_id, display_name, scopes, prefix, expire_time, last_used_time, create_time"


def _user(row: asyncpg.Record, identities: Sequence[tuple[str, str]] = ()) -> UserRow:
    return UserRow(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=str(row["email"]),
        display_name=row["display_name"],
        role=row["role"],
        password_hash=row["password_hash"],
        last_login_time=row["last_login_time"],
        create_time=row["create_time"],
        external_identities=tuple(identities),
    )


def _api_key(row: asyncpg.Record) -> ApiKeyRow:
    return ApiKeyRow(
        id=row["id"],
        tenant_id=row["tenant_id"],
        display_name=row["display_name"],
        scopes=tuple(row["scopes"]),
        prefix=row["prefix"],
        expire_time=row["expire_time"],
        last_used_time=row["last_used_time"],
        create_time=row["create_time"],
    )


class AuthStore:
    """Every query of users and API keys; tenant rows are read only inside `tenant_tx`, so RLS applies."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_user(self, tenant_id: uuid.UUID, user: NewUser) -> UserRow:
        """Stores a new user; ALREADY_EXISTS when the e-mail is taken in the tenant."""
        async with self._db.tenant_tx(tenant_id) as conn:
            try:
                row = await conn.fetchrow(
                    f"INSERT INTO auth.users (id, tenant_id, email, display_name, role, password_hash)"
                    f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_USER_COLUMNS}",
                    uuid.uuid4(),
                    tenant_id,
                    user.email,
                    user.display_name,
                    user.role,
                    user.password_hash,
                )
            except asyncpg.UniqueViolationError:
                raise errors.AlreadyExists(f"{tenant_name(tenant_id)}/users", "user.email") from None
        assert row is not None
        return _user(row)

    async def get_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> UserRow | None:
        """One user with its external identities, or None."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id
            )
            if row is None:
                return None
            identities = await self._identities(conn, tenant_id, [user_id])
        return _user(row, identities.get(user_id, ()))

    async def find_user_by_email(self, tenant_id: uuid.UUID, email: str) -> UserRow | None:
        """The user of `tenant_id` with `email` (case-insensitive), password hash included."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE tenant_id = $1 AND email = $2", tenant_id, email
            )
        return None if row is None else _user(row)

    async def list_users(self, tenant_id: uuid.UUID, after: Cursor | None, limit: int) -> list[UserRow]:
        """Up to `limit` users after the cursor, oldest first."""
        after_time, after_id = after if after is not None else (None, None)
        async with self._db.tenant_tx(tenant_id) as conn:
            rows = await conn.fetch(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE tenant_id = $1"
                " AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))"
                " ORDER BY create_time, id LIMIT $4",
                tenant_id,
                after_time,
                after_id,
                limit,
            )
            identities = await self._identities(conn, tenant_id, [r["id"] for r in rows])
        return [_user(r, identities.get(r["id"], ())) for r in rows]

    async def _identities(
        self, conn: Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[str, str]]]:
        found: dict[uuid.UUID, list[tuple[str, str]]] = {}
        if not ids:
            return found
        rows = await conn.fetch(
            "SELECT user_id, issuer, subject FROM auth.external_identities"
            " WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) ORDER BY create_time",
            tenant_id,
            ids,
        )
        for r in rows:
            found.setdefault(r["user_id"], []).append((r["issuer"], r["subject"]))
        return found

    async def change_role(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, role: str, allow: Callable[[str], None]
    ) -> UserRow | None:
        """Sets a user's role after `allow(old_role)` passes; refuses to leave the tenant with no owning user."""
        async with self._db.tenant_tx(tenant_id) as conn:
            # Lock every owner row (in id order, so concurrent changes queue instead of deadlocking):
            # two owners demoting each other at once must not both see "another owner remains".
            owners = await conn.fetch(
                "SELECT id FROM auth.users WHERE tenant_id = $1 AND role = ANY($2::text[]) ORDER BY id FOR UPDATE",
                tenant_id,
                list(OWNING_ROLES),
            )
            current = await conn.fetchrow(
                "SELECT role FROM auth.users WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant_id, user_id
            )
            if current is None:
                return None
            old_role: str = current["role"]
            allow(old_role)
            if old_role in OWNING_ROLES and role not in OWNING_ROLES and len(owners) <= 1:
                raise errors.FailedPrecondition("a tenant must keep at least one owner")
            row = await conn.fetchrow(
                f"UPDATE auth.users SET role = $3, update_time = now() WHERE tenant_id = $1 AND id = $2"
                f" RETURNING {_USER_COLUMNS}",
                tenant_id,
                user_id,
                role,
            )
            assert row is not None
            identities = await self._identities(conn, tenant_id, [user_id])
        return _user(row, identities.get(user_id, ()))

    async def record_login(self, tenant_id: uuid.UUID, user_id: uuid.UUID, new_hash: str | None) -> None:
        """Stamps the login time, and swaps in a stronger password hash when one was made."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await conn.execute(
                "UPDATE auth.users SET last_login_time = now(), password_hash = coalesce($3, password_hash)"
                " WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                user_id,
                new_hash,
            )

    async def insert_api_key(self, tenant_id: uuid.UUID, key: NewApiKey) -> ApiKeyRow:
        """Stores a new API key (its secret only as a hash)."""
        async with self._db.tenant_tx(tenant_id) as conn:
            row = await conn.fetchrow(
                "INSERT INTO auth.api_keys"
                " (id, tenant_id, display_name, scopes, prefix, secret_hash, created_by, expire_time)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_KEY_COLUMNS}",
                key.id,
                tenant_id,
                key.display_name,
                list(key.scopes),
                key.prefix,
                key.secret_hash,
                key.created_by,
                key.expire_time,
            )
        assert row is not None
        return _api_key(row)

    async def list_api_keys(self, tenant_id: uuid.UUID, after: Cursor | None, limit: int) -> list[ApiKeyRow]:
        """Up to `limit` keys after the cursor, oldest first."""
        after_time, after_id = after if after is not None else (None, None)
        async with self._db.tenant_tx(tenant_id) as conn:
            rows = await conn.fetch(
                f"SELECT {_KEY_COLUMNS} FROM auth.api_keys WHERE tenant_id = $1"
                " AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))"
                " ORDER BY create_time, id LIMIT $4",
                tenant_id,
                after_time,
                after_id,
                limit,
            )
        return [_api_key(r) for r in rows]

    async def delete_api_key(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        """Deletes a key; False when there was none."""
        async with self._db.tenant_tx(tenant_id) as conn:
            deleted = await conn.fetchval(
                "DELETE FROM auth.api_keys WHERE tenant_id = $1 AND id = $2 RETURNING id", tenant_id, key_id
            )
        return deleted is not None

    async def find_api_key(self, key_id: uuid.UUID, secret_hash: bytes) -> FoundApiKey | None:
        """The key with this id and secret hash, in whatever tenant (through the SECURITY DEFINER lookup)."""
        async with self._db.platform_tx() as conn:
            row = await conn.fetchrow("SELECT * FROM auth.find_api_key($1, $2)", key_id, secret_hash)
        if row is None:
            return None
        return FoundApiKey(
            id=row["id"],
            tenant_id=row["tenant_id"],
            scopes=tuple(row["scopes"]),
            expire_time=row["expire_time"],
            last_used_time=row["last_used_time"],
        )

    async def touch_api_key(self, tenant_id: uuid.UUID, key_id: uuid.UUID, min_age_seconds: int) -> None:
        """Sets the key's last-used time unless it was set within `min_age_seconds`."""
        async with self._db.tenant_tx(tenant_id) as conn:
            await conn.execute(
                "UPDATE auth.api_keys SET last_used_time = now() WHERE tenant_id = $1 AND id = $2"
                " AND (last_used_time IS NULL OR last_used_time < now() - make_interval(secs => $3))",
                tenant_id,
                key_id,
                float(min_age_seconds),
            )
