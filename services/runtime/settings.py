"""Typed settings read once from environment variables; every default works on one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: gRPC ports of the original service map, so operators recognise them.
SERVICE_PORTS: dict[str, int] = {
    "auth": 3001,
    "tenant": 3002,
    "chatbot": 3003,
    "conversation": 3004,
    "ai": 3005,
    "analytics": 3006,
    "avatar": 3007,
    "edge": 3008,
    "billing": 3009,
    "knowledge": 3010,
}

#: Metrics listen on the gRPC port plus this offset (auth 13001, tenant 13002, ...).
METRICS_PORT_OFFSET = 10000


class RuntimeSettings(BaseSettings):
    """Settings every service shares; each is read from `AVATARCHAT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="AVATARCHAT_", frozen=True, extra="ignore")

    data_dir: Path = PROJECT_ROOT / ".data"
    """Where embedded PostgreSQL, keys and local files live when nothing external is configured."""

    database_url: str = ""
    """PostgreSQL URL of the default shard; empty starts the embedded PostgreSQL under data_dir."""

    shard_urls: dict[str, str] = Field(default_factory=dict)
    """Extra shards by id, as JSON (`{"eu-2": "postgresql://..."}`); `default` is database_url."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for sessions, throttling, caches and Socket.io fan-out."""

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    """RabbitMQ for domain events and jobs."""

    internal_secret: str = ""
    """Shared secret that signs service-to-service tokens; empty reads or creates data_dir/internal-secret."""

    grpc_host: str = "127.0.0.1"
    """Interface the gRPC servers bind to."""

    service_addresses: dict[str, str] = Field(default_factory=dict)
    """Overrides of `host:port` per service, as JSON; the default is grpc_host and the service map."""

    metrics_enabled: bool = True
    """Serve Prometheus metrics on the service's metrics port."""

    log_level: str = "INFO"
    """Root log level."""

    log_json: bool = True
    """One JSON object per log line (with request id); false gives plain text."""

    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """The processes' event loop: uvloop (libuv, the loop asyncpg is built for), or the standard library's."""

    otel_exporter: str = "none"
    """Trace exporter: `none` (no spans are made), `console` or `otlp` (OTEL_EXPORTER_OTLP_ENDPOINT configures otlp)."""

    call_timeout_seconds: float = 10.0
    """Default deadline of a unary call to another service."""

    shutdown_grace_seconds: float = 10.0
    """How long in-flight calls may run after SIGTERM."""

    outbox_poll_seconds: float = 2.0
    """How often a service reads its outbox when no writer woke it: events another process wrote and that woke no
    one (NOTIFY missed while reconnecting, or a message event whose writer had no broker)."""

    def address_of(self, service: str) -> str:
        """The `host:port` where another service listens."""
        return self.service_addresses.get(service, f"{self.grpc_host}:{SERVICE_PORTS[service]}")

    def port_of(self, service: str) -> int:
        """The port another service listens on."""
        return int(self.address_of(service).rsplit(":", 1)[1])

    def resolved_internal_secret(self) -> str:
        """The internal secret, created once under data_dir so every local process shares it."""
        if self.internal_secret:
            return self.internal_secret
        import contextlib
        import os
        import secrets

        path = self.data_dir / "internal-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            # link() refuses to overwrite, so processes starting together all end up with the first secret.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip()
