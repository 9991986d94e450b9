"""What the edge holds while it runs: routes, channels, Redis and the prepared OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from edge.http_rules import HttpBinding
from edge.identity import Identifier
from edge.ratelimit import RateLimiter
from edge.routes import Router
from edge.settings import EdgeSettings
from edge.upstreams import Upstreams
from services.runtime.clients import Clients


@dataclass
class EdgeState:
    """Everything request handlers need, opened by the app's lifespan and found at `app.state.edge`."""

    settings: EdgeSettings
    bindings: list[HttpBinding]
    router: Router
    upstream_names: list[str]
    """Every upstream service some binding calls, sorted."""
    openapi: bytes
    """The OpenAPI document, serialised once."""
    clients: Clients
    upstreams: Upstreams
    redis: aioredis.Redis
    limiter: RateLimiter
    identifier: Identifier
