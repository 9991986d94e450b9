"""The edge's HTTP server: its uvicorn options, and its listening socket, bound so that several edge processes may
serve one port."""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from edge.settings import EdgeSettings


def server_config(app: ASGIApp, settings: EdgeSettings) -> uvicorn.Config:
    """uvicorn's options for the edge, from its settings (the tests serve the edge with the same ones)."""
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        log_config=None,
        access_log=settings.access_log,
        server_header=False,
        # httptools parses HTTP; the loop is the services' (uvloop unless AVATARCHAT_EVENT_LOOP=asyncio).
        loop=settings.event_loop,
        ws_per_message_deflate=settings.websocket_deflate,
        # A lifespan that fails to start (Redis unreachable) stops the process instead of serving without it.
        lifespan="on",
    )


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """The bound listener; with `reuse_port` other edge processes may bind the same port beside this one.

    uvicorn binds its own sockets without SO_REUSEPORT, so the edge binds and hands it the socket.
    The kernel then spreads new connections over the processes; each websocket stays on one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose protocol says TCP, and
    # accepted sockets inherit it from the listener; without it Nagle and delayed ACKs add ~40 ms per answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
