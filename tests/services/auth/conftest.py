"""Helpers of the auth service tests: extra users of a tenant, fresh client addresses, direct DB access."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from avatarchat.auth.v1 import auth_pb2
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import PASSWORD, Account, Stack


@dataclass
class Member:
    """A signed-in user of an account's tenant."""

    name: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata that authenticates this user."""
        return (("authorization", f"Bearer {self.access_token}"),)


async def add_user(stack: Stack, account: Account, role: int, email: str | None = None) -> Member:
    """Creates a user with `role` in the account's tenant (as its owner) and signs it in."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@{account.slug}.example"
    created = await stack.auth.CreateUser(
        auth_pb2.CreateUserRequest(
            parent=account.tenant,
            user=auth_pb2.User(email=email, role=role, password=PASSWORD),  # type: ignore[arg-type]
        ),
        metadata=account.metadata,
    )
    tokens = (await stack.login(account.slug, email)).tokens
    return Member(created.user.name, email, tokens.access_token, tokens.refresh_token)


def fresh_address() -> str:
    """A client address no other test uses, so address throttling never spills between tests."""
    return str(ipaddress.IPv6Address(0x20010DB8 << 96 | secrets.randbits(96)))


def from_address(address: str) -> tuple[tuple[str, str], ...]:
    """Metadata claiming the edge saw the call come from `address`."""
    return (("x-forwarded-for", address),)


@pytest.fixture(scope="session")
async def auth_db(settings: RuntimeSettings) -> AsyncIterator[Database]:
    """The auth service's database handle (its role, RLS applies) for checks below the API."""
    db = await Database.connect(settings, "auth")
    yield db
    await db.close()
