"""Shared fixtures: an embedded PostgreSQL with every migration applied, and the services on free ports."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from services.runtime import embedded_pg, migrations
from tests.otlp_collector import Collector, serve_collector

# The suite signs up hundreds of users: cheaper argon2id parameters keep it fast. Production keeps RFC 9106's.
os.environ.setdefault("AVATARCHAT_AUTH_PASSWORD_MEMORY_KIB", "8192")
os.environ.setdefault("AVATARCHAT_AUTH_PASSWORD_TIME_COST", "1")
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings

#: Services whose schemas the test database carries.
ALL_SERVICES = tuple(SERVICE_PORTS)
#: Redis database the suite may use freely (`make run` uses 0).
TEST_REDIS_URL = "redis://127.0.0.1:6379/9"


def free_port() -> int:
    """A TCP port that was free a moment ago on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch data folder for the session (embedded database, keys)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    """An embedded PostgreSQL with pgvector and every service's migrations applied."""
    url = embedded_pg.ensure_database(data_dir)
    migrations.migrate(url, ALL_SERVICES)
    yield url
    embedded_pg.stop(data_dir)


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> RuntimeSettings:
    """Settings shared by every service under test: real database, Redis and RabbitMQ, free ports."""
    return RuntimeSettings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        internal_secret=secrets.token_urlsafe(48),
        metrics_enabled=False,
        log_json=False,
        service_addresses={name: f"127.0.0.1:{free_port()}" for name in SERVICE_PORTS},
        shutdown_grace_seconds=1.0,
        # Every event must wake its relay itself (NOTIFY, or its writer in-process): the poll is only a fallback.
        outbox_poll_seconds=60.0,
    )


@pytest.fixture(scope="session")
async def redis_client(settings: RuntimeSettings) -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's Redis database."""
    client = aioredis.Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


def port_of(settings: RuntimeSettings, service: str) -> int:
    """The port the stack serves `service` on."""
    return settings.port_of(service)


def unique_slug(prefix: str = "t") -> str:
    """A tenant slug no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def channel_to(settings: RuntimeSettings, service: str) -> grpc.aio.Channel:
    """A plain client channel to a service under test (no propagation: tests set metadata themselves)."""
    return grpc.aio.insecure_channel(settings.address_of(service))


@pytest.fixture(scope="session")
async def otlp() -> AsyncIterator[Collector]:
    """A local OTLP collector, which every service in this process that traces (exporter `otlp`) sends to."""
    async with serve_collector() as collector:
        yield collector
