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

    access_log: bool = False
    """uvicorn's line per request at INFO; off by default, as a formatted log line per call costs the edge time."""

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

    rate_limit_timeout_seconds: float = 0.5
    """Deadline of the limiter's Redis call; past it the request goes through uncounted (fail open)."""

    health_timeout_seconds: float = 1.0
    """Deadline of each upstream health check of `GET /healthz`."""

    health_required_services: tuple[str, ...] = RUNNABLE_SERVICES
    """Upstreams that must be SERVING for `GET /healthz` to answer 200; others are only reported."""

    descriptor_set_path: Path = PROJECT_ROOT / "gen" / "avatarchat" / "descriptor_set.binpb"
    """FileDescriptorSet with source info (proto comments for the OpenAPI document); compiled from proto/ if absent."""

    docs_assets_dir: Path = PROJECT_ROOT / "edge" / "static" / "swagger-ui"
    """swagger-ui-dist files copied by the Makefile; node_modules/swagger-ui-dist is the fallback."""

    socketio_channel: str = "avatarchat-edge-socketio"
    """Redis pub/sub channel through which every edge process fans Socket.io emits out."""

    widget_message_limit: int = 20
    """`message:send` events one visitor may send to one chatbot per window."""

    widget_message_window_seconds: int = 60
    """Length of the fixed window of the visitor message limit."""

    widget_event_limit: int = 120
    """Other widget events (typing, interactions) one socket may send per window before `error`."""

    presence_ttl_seconds: int = 45
    """A socket counts as present this long after its edge last refreshed it (heartbeats every third)."""

    stream_replay_ttl_seconds: int = 120
    """How long an answer's chunks stay in Redis for reconnecting visitors after the last one."""

    widget_key_prefix: str = "edge:widget"
    """Redis key prefix of presence, replay logs and widget limits."""

    widget_dist_dir: Path = PROJECT_ROOT / "widget" / "dist"
    """Built widget files (embed.js and hashed chunks), served at /embed.js and /widget/."""

    widget_demo_page: Path = PROJECT_ROOT / "widget" / "demo" / "index.html"
    """Demo page template; `{{EMBED_SNIPPET}}` is replaced by the demo bot's snippet."""

    demo_tenant_slug: str = "demo"
    """Tenant whose first chatbot /demo embeds."""

    resume_join_timeout_seconds: float = 30.0
    """A resuming socket joins its room itself if the answer's relay (maybe on a dead edge) has not taken it by then."""

    widget_redis_connections: int = 128
    """Redis connections each of the realtime clients (Socket.io fan-out; presence, resume, limits) may open."""

    websocket_deflate: bool = False
    """Offer permessage-deflate to browsers' websockets. Off, as in Socket.io's own server since engine.io 4: it
    doubles a socket's memory (a compressor and a decompressor each) and costs CPU on every frame, to save
    about a kilobyte per second on a streaming answer."""

    reuse_port: bool = False
    """Bind with SO_REUSEPORT so several edge processes serve one port (the kernel spreads connections)."""

    processes: int = 0
    """Edge processes `avatarchat up` runs on the one port (0: one per CPU core); see edge/README.md on stickiness."""
