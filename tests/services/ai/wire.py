"""A raw asyncio HTTP/1.1 server for provider tests: it speaks the real wire formats and sees disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: Longest request head the server reads; SDK requests are far below it.
_MAX_HEAD = 64 * 1024


@dataclass
class Exchange:
    """One request the server received, and what became of its connection."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False

    def json(self) -> dict[str, Any]:
        """The request body parsed as a JSON object."""
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


class Responder:
    """Writes one response: a plain JSON body or a chunked event stream."""

    def __init__(self, writer: asyncio.StreamWriter, exchange: Exchange) -> None:
        self._writer = writer
        self._exchange = exchange

    async def json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        """Sends a complete JSON response."""
        payload = json.dumps(body).encode()
        head = {"content-type": "application/json", "content-length": str(len(payload)), **(headers or {})}
        await self._head(status, head)
        self._writer.write(payload)
        await self._writer.drain()

    async def start_stream(self, content_type: str = "text/event-stream") -> None:
        """Sends the head of a chunked streaming response."""
        await self._head(
            200, {"content-type": content_type, "transfer-encoding": "chunked", "cache-control": "no-cache"}
        )

    async def send(self, data: str) -> None:
        """Sends one HTTP chunk; raises ConnectionError once the client has gone."""
        if self._exchange.closed_by_client.is_set():
            raise ConnectionResetError("client closed the connection")
        raw = data.encode()
        self._writer.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        await self._writer.drain()

    async def sse(self, data: object, event: str | None = None) -> None:
        """Sends one server-sent event; dicts are JSON-encoded, strings are sent as they are."""
        text = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {event}\n" if event else ""
        await self.send(f"{prefix}data: {text}\n\n")

    async def end(self) -> None:
        """Ends the chunked body."""
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()

    async def _head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items()), "connection: close", "", ""]
        self._writer.write("\r\n".join(lines).encode())
        await self._writer.drain()


Handler = Callable[[Exchange, Responder], Awaitable[None]]


class WireServer:
    """Serves every request with the current handler, on 127.0.0.1 and a free port."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.exchanges: list[Exchange] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        """Starts listening."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)

    async def close(self) -> None:
        """Stops listening and ends every connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            exchange = await self._read_request(reader)
            if exchange is None:
                return
            self.exchanges.append(exchange)
            watcher = asyncio.create_task(self._watch_close(reader, exchange))
            try:
                await self.handler(exchange, Responder(writer, exchange))
                exchange.finished = True
            except ConnectionError:
                pass
            finally:
                with contextlib.suppress(ConnectionError):
                    writer.close()
                    await writer.wait_closed()
                await asyncio.wait_for(watcher, 5)
        except asyncio.CancelledError:
            # Only close() cancels these tasks; ending quietly keeps asyncio from logging the cancellation.
            return
        finally:
            # Every path, also a client that hung up before its request was whole (a cancelled answer): an unclosed
            # transport is reported, later, in whichever test the garbage collector happens to run.
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _watch_close(reader: asyncio.StreamReader, exchange: Exchange) -> None:
        # The client sends nothing after its request, so EOF (or a reset) means it hung up on us.
        with contextlib.suppress(ConnectionError):
            while await reader.read(1024):
                pass
        exchange.closed_by_client.set()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Exchange | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        try:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return Exchange(method=method, path=path, headers=headers, body=body)
