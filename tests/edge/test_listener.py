"""The edge's HTTP server: several processes share a port only when asked to; websocket compression is opt-in."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from websockets.asyncio.client import connect

from edge.listener import listening_socket
from tests.conftest import free_port
from tests.edge.conftest import widget_edge_settings
from tests.edge.widget_harness import ORIGIN, RunningFullEdge, serve_full_edge
from tests.services.conftest import Stack


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


async def _socket_extensions(url: str) -> str | None:
    """The extensions the edge accepted on a Socket.io websocket offering permessage-deflate, as browsers do."""
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with connect(ws_url, origin=ORIGIN, compression="deflate") as ws:  # type: ignore[arg-type]
        opened = await ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{"), opened  # the engine.io handshake works either way
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_widget_sockets_are_not_compressed_unless_enabled(
    stack: Stack, fake_conversations: tuple[object, str], widget_edge: RunningFullEdge
) -> None:
    # A compressor and a decompressor per socket double its memory, for ~1 KB/s saved on a streaming answer.
    assert await _socket_extensions(widget_edge.url) is None
    settings = widget_edge_settings(
        stack, fake_conversations[1], f"test-sio-{uuid.uuid4().hex}", f"test-widget:{uuid.uuid4().hex}"
    ).model_copy(update={"websocket_deflate": True, "http_port": free_port()})
    async with serve_full_edge(settings) as deflating:
        accepted = await _socket_extensions(deflating.url)
    assert accepted is not None
    assert accepted.startswith("permessage-deflate")
