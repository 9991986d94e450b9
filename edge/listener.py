"""The edge's listening socket, bound so that several edge processes may serve one port."""

from __future__ import annotations

import socket


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
