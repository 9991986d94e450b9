"""A loopback TCP proxy that holds back the first server reply containing a marker until told to let it through.

Put in front of PostgreSQL it freezes a query after the server has run it (its snapshot taken) and before the
client sees the rows: the moment a reload is "in flight" with data that a concurrent change makes stale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def postgres_opener(url: str) -> Callable[[], Awaitable[Streams]]:
    """Opens connections to the server of a PostgreSQL URL: its TCP address, or its socket under `?host=/dir`."""
    parts = urlsplit(url)
    port = parts.port or 5432
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if socket_dir.startswith("/"):
        return lambda: asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
    host = parts.hostname or "127.0.0.1"
    return lambda: asyncio.open_connection(host, port)


def proxied_postgres_url(url: str, port: int) -> str:
    """The same user and database, reached through the proxy on loopback `port`."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return f"postgresql://{user}@127.0.0.1:{port}{parts.path}"


class HoldingProxy:
    """Forwards bytes both ways between clients and a server; holds the first reply chunk holding `marker`."""

    def __init__(self, open_server: Callable[[], Awaitable[Streams]], marker: bytes) -> None:
        self._open_server = open_server
        self._marker = marker
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.holding = asyncio.Event()
        """Set once a reply with the marker has arrived and is being held."""
        self._release = asyncio.Event()
        self._armed = True
        self.port = 0

    async def start(self) -> None:
        """Listens on a free loopback port (`port`)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def release(self) -> None:
        """Lets the held reply (and everything after it) through."""
        self._release.set()

    async def close(self) -> None:
        """Stops listening and closes every forwarded connection."""
        self._release.set()
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._open_server()
        self._writers += [client_writer, server_writer]
        for pump in (self._pump(client_reader, server_writer, False), self._pump(server_reader, client_writer, True)):
            task = asyncio.get_running_loop().create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                if replies and self._armed and self._marker in chunk:
                    self._armed = False
                    self.holding.set()
                    await self._release.wait()
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
