"""Runs the edge: `python -m edge` serves REST, Socket.io, the widget, docs and health on host:port (3008)."""

from __future__ import annotations

import uvicorn

from edge.assembly import build_edge_app
from edge.settings import EdgeSettings
from services.runtime import logs


def main() -> None:
    """Serves until SIGTERM/SIGINT; uvicorn stops accepting, lets requests finish within the grace, then closes."""
    settings = EdgeSettings()
    logs.configure("edge", settings.log_level, settings.log_json)
    uvicorn.run(
        build_edge_app(settings)[0],
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        log_config=None,
        access_log=settings.access_log,
        server_header=False,
        # httptools parses HTTP when installed; the loop stays asyncio, the one grpc.aio is tested on.
        loop="asyncio",
    )


main()
