"""Socket.io capacity of one edge process: N concurrent widget visitors, idle and streaming.

Starts an embedded PostgreSQL, the auth, tenant and chatbot services and one edge (each its own
process, as `avatarchat up` does), plus a paced stand-in ConversationService (the edge is measured,
not answer generation): each answer is `--chunks` deltas `--interval-ms` apart, each stamped with its
send time. Visitors are minimal Socket.io websocket clients in this process (see `Visitor`). Prints, per N:
connect time, edge RSS per connection (RSS delta / N), and chunk latency p50/p99 (stamp → client).

    .venv/bin/python -m bench.edge_socket_bench [--visitors 250,500,1000,2000] [--chunks 20] [--interval-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

from avatarchat.ai.v1 import ai_pb2
from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.cli.catalog import MIGRATED_SERVICES
from services.cli.health import wait_serving
from services.runtime import embedded_pg, migrations
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings

PASSWORD = "benchmark passphrase"
ORIGIN = "http://127.0.0.1"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PacedConversations(conversation_pb2_grpc.ConversationServiceServicer):
    """Conversations in memory; every answer is `chunks` deltas `interval` apart, text = send time."""

    def __init__(self, chunks: int, interval: float) -> None:
        self._chunks = chunks
        self._interval = interval

    async def CreateConversation(self, request: Any, context: Any) -> conversation_pb2.CreateConversationResponse:
        name = f"{request.parent}/conversations/{uuid.uuid4()}"
        conversation = conversation_pb2.Conversation(name=name, state=conversation_pb2.CONVERSATION_STATE_ACTIVE)
        return conversation_pb2.CreateConversationResponse(conversation=conversation)

    async def SendMessage(self, request: Any, context: Any) -> AsyncIterator[conversation_pb2.SendMessageResponse]:
        answer = f"{request.name}/messages/{uuid.uuid4()}"
        yield conversation_pb2.SendMessageResponse(
            started=conversation_pb2.StreamStarted(
                visitor_message=f"{request.name}/messages/v", assistant_message=answer
            )
        )
        for index in range(self._chunks):
            await asyncio.sleep(self._interval)
            yield conversation_pb2.SendMessageResponse(text_delta=ai_pb2.TextDelta(text=repr(time.time()), index=index))
        yield conversation_pb2.SendMessageResponse(
            message=conversation_pb2.Message(name=answer, state=conversation_pb2.MESSAGE_STATE_COMPLETE)
        )


async def serve_paced(port: int, chunks: int, interval: float) -> None:
    """Runs the stand-in ConversationService until killed."""
    server = grpc.aio.server()
    conversation_pb2_grpc.add_ConversationServiceServicer_to_server(
        PacedConversations(chunks, interval),  # type: ignore[abstract]  # the stream is all the edge needs
        server,
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


class Visitor:
    """One widget socket speaking Socket.io v4 over a raw websocket (engine.io `4…` frames).

    python-socketio's client costs far more CPU per message than the edge does, so with it the
    client process, not the edge, sets the latency; this minimal client keeps the measurement on the edge.
    """

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.ended = asyncio.Event()
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, url: str, embed_id: str) -> None:
        """Opens the websocket, then the `/widget` namespace with the widget's auth."""
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self._ws = await self._session.ws_connect(ws_url, headers={"Origin": ORIGIN}, max_msg_size=0)
        opened = await self._ws.receive_str()
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected open frame {opened!r}")
        await self._ws.send_str("40/widget," + json.dumps({"embedId": embed_id}))
        while True:
            frame = await self._ws.receive_str()
            if frame.startswith("40/widget,"):
                break
            if frame.startswith("44/widget,"):
                raise RuntimeError(f"refused: {frame}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            frame = message.data
            if not isinstance(frame, str):
                continue
            if frame == "2":
                await self._ws.send_str("3")
            elif frame.startswith("42/widget,"):
                event, payload = json.loads(frame[10:])
                if event == "stream:chunk":
                    self.latencies.append((time.time() - float(payload["text"])) * 1000)
                elif event == "stream:end":
                    self.ended.set()
                elif event == "error":
                    self.errors.append(f"{payload.get('code')}: {payload.get('message')}")
            elif frame.startswith("43/widget,"):
                body = frame[10:]
                split = body.index("[")
                future = self._acks.pop(int(body[:split]), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(body[split:])[0])

    async def call(self, event: str, payload: dict[str, Any]) -> Any:
        """Emits an event with an ack id and waits for the ack."""
        assert self._ws is not None
        ack_id = self._next_ack
        self._next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._ws.send_str(f"42/widget,{ack_id}" + json.dumps([event, payload]))
        return await asyncio.wait_for(future, 120)

    async def close(self) -> None:
        """Closes the socket."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def create_bot(settings: RuntimeSettings) -> str:
    """A tenant with a chatbot allowed on 127.0.0.1; returns its embed id."""
    async with (
        grpc.aio.insecure_channel(settings.address_of("tenant")) as tc,
        grpc.aio.insecure_channel(settings.address_of("auth")) as ac,
        grpc.aio.insecure_channel(settings.address_of("chatbot")) as cc,
    ):
        slug = f"bench-{uuid.uuid4().hex[:10]}"
        email = f"owner@{slug}.example"
        created = await tenant_pb2_grpc.TenantServiceStub(tc).CreateTenant(
            tenant_pb2.CreateTenantRequest(
                tenant=tenant_pb2.Tenant(slug=slug, display_name="Bench"), owner_email=email, owner_password=PASSWORD
            )
        )
        login = await auth_pb2_grpc.AuthServiceStub(ac).Login(
            auth_pb2.LoginRequest(tenant_slug=slug, email=email, password=PASSWORD)
        )
        bot = await chatbot_pb2_grpc.ChatbotServiceStub(cc).CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(
                parent=created.tenant.name,
                chatbot=chatbot_pb2.Chatbot(
                    display_name="Bench", placement=chatbot_pb2.Placement(allowed_domains=["127.0.0.1"])
                ),
            ),
            metadata=(("authorization", f"Bearer {login.tokens.access_token}"),),
        )
        return bot.chatbot.embed_id


async def connect_all(
    session: aiohttp.ClientSession, url: str, embed_id: str, count: int, batch: int
) -> tuple[list[Visitor], float]:
    """`count` connected visitors (in concurrent batches) and the seconds it took."""
    visitors: list[Visitor] = []
    start = time.perf_counter()
    for offset in range(0, count, batch):
        group = [Visitor(session) for _ in range(min(batch, count - offset))]
        await asyncio.gather(*(v.connect(url, embed_id) for v in group))
        visitors.extend(group)
    return visitors, time.perf_counter() - start


async def disconnect_all(visitors: list[Visitor]) -> None:
    """Closes every socket."""
    await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)


def rss(process: psutil.Process) -> int:
    """Resident memory of the edge in bytes."""
    return int(process.memory_info().rss)


async def one_round(
    url: str, embed_id: str, edge: psutil.Process, count: int, stream: bool, chunks: int, interval: float
) -> dict[str, Any]:
    """Connects `count` visitors, optionally streams one answer to each, measures and disconnects."""
    await asyncio.sleep(1.0)
    before = rss(edge)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    visitors, connect_seconds = await connect_all(session, url, embed_id, count, batch=100)
    await asyncio.sleep(2.0)
    after = rss(edge)
    result: dict[str, Any] = {
        "n": count,
        "mode": "streaming" if stream else "idle",
        "connect_s": connect_seconds,
        "kib_per_conn": (after - before) / count / 1024,
        "cpu": edge.cpu_percent(interval=None),
    }
    if stream:
        edge.cpu_percent(interval=None)
        start = time.perf_counter()
        acks = await asyncio.gather(*(v.call("message:send", {"text": "hi"}) for v in visitors))
        failed = sum(1 for a in acks if not a.get("ok"))
        waits = [asyncio.create_task(v.ended.wait()) for v in visitors if not v.ended.is_set()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=60 + 3 * chunks * interval)
            for task in pending:
                task.cancel()
        result["stream_s"] = time.perf_counter() - start
        result["unfinished"] = sum(1 for v in visitors if not v.ended.is_set())
        errors = sorted({e for v in visitors for e in v.errors})
        if errors:
            result["errors"] = errors[:5]
        result["cpu"] = edge.cpu_percent(interval=None)
        latencies = [ms for v in visitors for ms in v.latencies]
        cuts = statistics.quantiles(latencies, n=100)
        result.update(p50=cuts[49], p99=cuts[98], chunks=len(latencies), failed=failed)
    await disconnect_all(visitors)
    await session.close()
    return result


def print_table(results: list[dict[str, Any]], chunks: int, interval_ms: int) -> None:
    """The results as a Markdown table."""
    print(f"\nOne edge process; answers of {chunks} chunks {interval_ms} ms apart; clients in one process.\n")
    print("| visitors | mode      | connect (s) | edge RSS/conn (KiB) | chunks   | p50 (ms) | p99 (ms) | edge CPU % |")
    print("|---------:|-----------|------------:|--------------------:|---------:|---------:|---------:|-----------:|")
    for r in results:
        chunk_cols = (
            f"{r['chunks']:>8} | {r['p50']:>8.1f} | {r['p99']:>8.1f}" if "p50" in r else f"{'':>8} | {'':>8} | {'':>8}"
        )
        print(
            f"| {r['n']:>8} | {r['mode']:<9} | {r['connect_s']:>11.1f} | {r['kib_per_conn']:>19.1f} | "
            f"{chunk_cols} | {r['cpu']:>10.0f} |"
        )


async def run(settings: RuntimeSettings, url: str, edge: psutil.Process, args: argparse.Namespace) -> None:
    """Waits for everything, then measures each visitor count idle and streaming."""
    for service in ("auth", "tenant", "chatbot"):
        if not await wait_serving(settings, service, within_seconds=90):
            raise RuntimeError(f"{service} did not start")
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(400):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the edge did not start")
    embed_id = await create_bot(settings)
    results = []
    for count in args.visitors:
        for stream in (False, True):
            result = await one_round(url, embed_id, edge, count, stream, args.chunks, args.interval_ms / 1000)
            print(json.dumps(result), flush=True)
            results.append(result)
    print_table(results, args.chunks, args.interval_ms)


def main() -> None:
    """Starts the processes, measures, and stops everything it started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=lambda v: [int(x) for x in v.split(",")], default=[250, 500, 1000, 2000])
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--edge-log", default="", help="append the edge's stderr (its log) to this file")
    parser.add_argument("--serve-paced", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_paced:
        asyncio.run(serve_paced(args.serve_paced, args.chunks, args.interval_ms / 1000))
        return
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="socket-bench-") as scratch:
        data_dir = Path(scratch)
        url = embedded_pg.ensure_database(data_dir)
        migrations.migrate(url, MIGRATED_SERVICES)
        addresses = {name: f"127.0.0.1:{free_port()}" for name in SERVICE_PORTS}
        edge_port = free_port()
        env = {
            **os.environ,
            "AVATARCHAT_DATA_DIR": str(data_dir),
            "AVATARCHAT_DATABASE_URL": url,
            "AVATARCHAT_INTERNAL_SECRET": secrets.token_urlsafe(48),
            "AVATARCHAT_SERVICE_ADDRESSES": json.dumps(addresses),
            "AVATARCHAT_REDIS_URL": "redis://127.0.0.1:6379/8",
            "AVATARCHAT_METRICS_ENABLED": "false",
            "AVATARCHAT_LOG_LEVEL": "WARNING",
            "AVATARCHAT_HTTP_PORT": str(edge_port),
            "AVATARCHAT_HEALTH_REQUIRED_SERVICES": json.dumps(["auth", "tenant", "chatbot"]),
            "AVATARCHAT_SOCKETIO_CHANNEL": f"bench-{uuid.uuid4().hex}",
        }
        settings = RuntimeSettings(data_dir=data_dir, database_url=url, service_addresses=addresses)
        commands = [[sys.executable, "-m", m] for m in ("services.auth", "services.tenant", "services.chatbot")]
        paced_args = ["--chunks", str(args.chunks), "--interval-ms", str(args.interval_ms)]
        paced_port = int(addresses["conversation"].rsplit(":", 1)[1])
        commands.append(
            [sys.executable, "-m", "bench.edge_socket_bench", "--serve-paced", str(paced_port), *paced_args]
        )
        commands.append([sys.executable, "-m", "edge"])
        edge_log = open(args.edge_log, "ab") if args.edge_log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        children = [
            subprocess.Popen(c, env=env, cwd=root, stderr=edge_log if c[-1] == "edge" else subprocess.DEVNULL)
            for c in commands
        ]
        try:
            asyncio.run(run(settings, f"http://127.0.0.1:{edge_port}", psutil.Process(children[-1].pid), args))
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
            if not isinstance(edge_log, int):
                edge_log.close()
            embedded_pg.stop(data_dir)


if __name__ == "__main__":
    main()
