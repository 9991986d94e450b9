"""Runs the edge: `python -m edge` serves REST, Socket.io, the widget, docs and health on host:port (3008)."""

from __future__ import annotations

import uvicorn

from edge.assembly import build_edge_app
from edge.listener import listening_socket
from edge.settings import EdgeSettings
from services.runtime import logs
from services.runtime.server import freeze_startup_heap


def main() -> None:
    """Serves until SIGTERM/SIGINT; uvicorn stops accepting, lets requests finish within the grace, then closes."""
    settings = EdgeSettings()
    logs.configure("edge", settings.log_level, settings.log_json)
    config = uvicorn.Config(
        build_edge_app(settings)[0],
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        log_config=None,
        access_log=settings.access_log,
        server_header=False,
        # httptools parses HTTP; the loop is the services' (uvloop unless AVATARCHAT_EVENT_LOOP=asyncio).
        loop=settings.event_loop,
    )
    # Bound here rather than by uvicorn, which cannot set SO_REUSEPORT.
    sock = listening_socket(settings.http_host, settings.http_port, settings.reuse_port)
    freeze_startup_heap()
    uvicorn.Server(config).run(sockets=[sock])


main()
