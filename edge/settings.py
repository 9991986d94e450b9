"""Settings of the edge (`AVATARCHAT_<NAME>`), on top of the ones every service shares."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.cli.catalog import RUNNABLE_SERVICES
from services.runtime.settings import PROJECT_ROOT, SERVICE_PORTS, RuntimeSettings


class EdgeSettings(RuntimeSettings):
    """HTTP listener, CORS, limits and deadlines of the edge."""

    http_host: str = "127.0.0.1"
    """Interface the HTTP server binds to."""

    http_port: int = SERVICE_PORTS["edge"]
    """Port of REST, the docs and (later) Socket.io."""

    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For/-Proto are trusted for the client address (uvicorn's setting)."""

    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:3008", "http://localhost:3008"])
    """Origins (the dashboard's) allowed to call the REST API from a browser; `*` allows any."""

    cors_max_age_seconds: int = 600
    """How long browsers may cache a preflight answer."""

    stream_timeout_seconds: float = 300.0
    """Deadline of a server-streaming call (an answer streamed as SSE/NDJSON)."""

    upload_timeout_seconds: float = 300.0
    """Deadline of a client-streaming call (an upload)."""

    max_json_body_bytes: int = 16 * 1024 * 1024
    """Largest JSON request body; inline uploads (10 MiB base64) must fit."""

    max_upload_bytes: int = 64 * 1024 * 1024
    """Largest raw body streamed into a client-streaming call (the service enforces its own limit)."""

    upload_chunk_bytes: int = 64 * 1024
    """Size of each chunk message of a client-streaming upload (the contracts allow at most 64 KiB)."""

    json_emit_unpopulated: bool = True
    """Print fields that hold their default value (0, "", []) in responses, as grpc-gateway does."""

    rate_limit_enabled: bool = True
    """Apply the per-principal and per-address request limits to `/v1/` routes."""

    rate_limit_window_seconds: int = 60
    """Length of the fixed rate-limit window."""

    rate_limit_user: int = 600
    """Requests per window for one verified user (JWT subject)."""

    rate_limit_api_key: int = 600
    """Requests per window for one API key."""

    rate_limit_anonymous: int = 120
    """Requests per window for one client address without (valid) credentials."""

    rate_limit_address: int = 3000
    """Ceiling per client address over every principal, so rotating forged credentials gains nothing."""

    rate_limit_key_prefix: str = "edge:rl"
    """Redis key prefix of the rate-limit counters."""

    health_timeout_seconds: float = 1.0
    """Deadline of each upstream health check of `GET /healthz`."""

    health_required_services: tuple[str, ...] = RUNNABLE_SERVICES
    """Upstreams that must be SERVING for `GET /healthz` to answer 200; others are only reported."""

    descriptor_set_path: Path = PROJECT_ROOT / "gen" / "avatarchat" / "descriptor_set.binpb"
    """FileDescriptorSet with source info (proto comments for the OpenAPI document); compiled from proto/ if absent."""

    docs_assets_dir: Path = PROJECT_ROOT / "edge" / "static" / "swagger-ui"
    """swagger-ui-dist files copied by the Makefile; node_modules/swagger-ui-dist is the fallback."""
