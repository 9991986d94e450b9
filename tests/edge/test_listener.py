"""Several edge processes on one port: the listener binds with SO_REUSEPORT only when asked to."""

from __future__ import annotations

import asyncio
import socket

import pytest

from edge.listener import listening_socket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_two_listeners_share_a_port_with_reuse_port_and_both_accept() -> None:
    port = _free_port()
    first = listening_socket("127.0.0.1", port, reuse_port=True)
    second = listening_socket("127.0.0.1", port, reuse_port=True)
    try:
        for listener in (first, second):
            listener.listen(64)
            listener.settimeout(0.05)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        accepted = {id(first): 0, id(second): 0}
        for listener in (first, second):
            while True:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    break
                conn.close()
                accepted[id(listener)] += 1
        for client in clients:
            client.close()
    finally:
        first.close()
        second.close()
    # The kernel hashes each connection to one listener; 64 connections all landing on one is ~1e-19.
    assert sum(accepted.values()) == 64
    assert min(accepted.values()) > 0


def test_without_reuse_port_a_second_listener_is_refused() -> None:
    port = _free_port()
    first = listening_socket("127.0.0.1", port, reuse_port=False)
    first.listen(8)
    try:
        with pytest.raises(OSError, match="in use"):
            listening_socket("127.0.0.1", port, reuse_port=False)
    finally:
        first.close()


async def test_accepted_connections_have_nagle_off() -> None:
    # Without TCP_NODELAY a response written in two parts waits ~40 ms for the client's delayed ACK.
    accepted: list[asyncio.StreamWriter] = []

    def keep(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = listening_socket("127.0.0.1", 0, reuse_port=True)
    server = await asyncio.start_server(keep, sock=listener)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.01)
        nodelay = accepted[0].get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert nodelay != 0
        writer.close()
        await writer.wait_closed()
    finally:
        for peer in accepted:
            peer.close()
        server.close()
        await server.wait_closed()
