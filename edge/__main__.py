"""Runs the edge: `python -m edge` serves REST, Socket.io, the widget, docs and health on host:port (3008)."""

from __future__ import annotations

import uvicorn

from edge.assembly import build_edge_app
from edge.listener import listening_socket, server_config
from edge.settings import EdgeSettings
from services.runtime import logs
from services.runtime.server import freeze_startup_heap


def main() -> None:
    """Serves until SIGTERM/SIGINT; uvicorn stops accepting, lets requests finish within the grace, then closes."""
    settings = EdgeSettings()
    logs.configure("edge", settings.log_level, settings.log_json)
    config = server_config(build_edge_app(settings)[0], settings)
    # Bound here rather than by uvicorn, which cannot set SO_REUSEPORT.
    sock = listening_socket(settings.http_host, settings.http_port, settings.reuse_port)
    freeze_startup_heap()
    uvicorn.Server(config).run(sockets=[sock])


main()
