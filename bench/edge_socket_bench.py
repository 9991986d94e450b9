"""Socket.io capacity of the edge: N concurrent widget visitors, idle and streaming, on `--edges` processes.

Starts an embedded PostgreSQL, the auth, tenant and chatbot services and `--edges` edge processes on
one port (SO_REUSEPORT, as `avatarchat up` does), plus a paced stand-in ConversationService (the edge
is measured, not answer generation): each answer is `--chunks` deltas `--interval-ms` apart, each
stamped with its send time. Visitors are minimal Socket.io websocket clients (see `Visitor`) in
`--clients` processes of their own. Prints the load model and, per N: connect time, edge RSS per
connection (RSS delta over all edges / N; only the first N's is a true figure, as later rounds reuse memory the
earlier sockets freed), chunk latency p50/p99 (upstream stamp → visitor receipt), the most chunks delivered in
one second, and where the CPU went.

    .venv/bin/python -m bench.edge_socket_bench [--visitors 500,1000,2000] [--chunks 40] [--interval-ms 50]
        [--edges 2] [--clients 1] [--answers 2] [--think-s 0] [--duration-s 60] [--no-deflate]

With `--think-s 0` (the default) every visitor streams at once, `--answers` answers back to back: the worst
case. A mean pause after each answer models chatting visitors who read and type between answers: then each
visitor asks, reads and pauses for `--duration-s`, from a random moment of that steady state (bench/chatting.py),
so the offered rate holds from the first second. Visitors offer permessage-deflate, as browsers do; the
`deflated` column counts the sockets on which the edge accepted it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import multiprocessing
import multiprocessing.process
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
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
from bench.chatting import busy_share, first_pause, pause
from services.cli.catalog import MIGRATED_SERVICES
from services.cli.health import wait_serving
from services.runtime import embedded_pg, migrations
from services.runtime.server import freeze_startup_heap, run_event_loop
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
    freeze_startup_heap()
    await server.wait_for_termination()


class Visitor:
    """One widget socket speaking Socket.io v4 over a raw websocket (engine.io `4…` frames).

    python-socketio's client costs far more CPU per message than the edge does, so with it the
    client process, not the edge, sets the latency; this minimal client keeps the measurement on the edge.
    """

    def __init__(self, session: aiohttp.ClientSession, deflate: bool = True) -> None:
        self._session = session
        self._deflate = deflate
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.latencies: list[float] = []
        self.arrivals: Counter[int] = Counter()
        """Chunks received per wall-clock second."""
        self.errors: list[str] = []
        self.ended = asyncio.Event()
        self.compressed = False
        """Whether the edge accepted permessage-deflate for this socket."""
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, url: str, embed_id: str) -> None:
        """Opens the websocket, then the `/widget` namespace with the widget's auth."""
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        # Offering permessage-deflate as browsers do: the edge decides whether frames are compressed.
        self._ws = await self._session.ws_connect(
            ws_url, headers={"Origin": ORIGIN}, max_msg_size=0, compress=15 if self._deflate else 0
        )
        self.compressed = bool(self._ws.compress)
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
                    now = time.time()
                    self.latencies.append((now - float(payload["text"])) * 1000)
                    self.arrivals[int(now)] += 1
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
    session: aiohttp.ClientSession, url: str, embed_id: str, count: int, batch: int, *, deflate: bool
) -> tuple[list[Visitor], float]:
    """`count` connected visitors (in concurrent batches) and the seconds it took."""
    visitors: list[Visitor] = []
    start = time.perf_counter()
    for offset in range(0, count, batch):
        group = [Visitor(session, deflate) for _ in range(min(batch, count - offset))]
        await asyncio.gather(*(v.connect(url, embed_id) for v in group))
        visitors.extend(group)
    return visitors, time.perf_counter() - start


async def disconnect_all(visitors: list[Visitor]) -> None:
    """Closes every socket."""
    await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)


@dataclass(frozen=True)
class Chat:
    """What each visitor of a round does."""

    answer: float
    """Seconds an answer streams."""
    think: float
    """Mean pause after an answer; 0 asks `answers` questions back to back."""
    answers: int
    duration: float
    """With a pause: seconds during which the visitor asks."""
    wait: float
    """Seconds an answer may take before it counts as unfinished."""


async def converse(visitor: Visitor, chat: Chat) -> tuple[int, int]:
    """One visitor's questions, each read to its end; (failed, unfinished)."""
    rng = random.Random()
    end = time.monotonic() + chat.duration
    delay = first_pause(rng, chat.answer, chat.think)
    # A visitor still thinking when the window closes stops then, not when the thought would have ended.
    await asyncio.sleep(min(delay, chat.duration) if chat.think else delay)
    failed = unfinished = 0
    for asked in itertools.count():
        if not chat.think:
            if asked == chat.answers:
                break
        else:
            if asked:
                await asyncio.sleep(min(pause(rng, chat.think), max(end - time.monotonic(), 0)))
            if time.monotonic() >= end:
                break
        visitor.ended.clear()
        ack = await visitor.call("message:send", {"text": "hi"})
        if not ack.get("ok"):
            failed += 1
            continue
        try:
            await asyncio.wait_for(visitor.ended.wait(), chat.wait)
        except TimeoutError:
            unfinished += 1
    return failed, unfinished


async def stream_round(visitors: list[Visitor], chat: Chat) -> dict[str, Any]:
    """Every visitor converses as `chat` says; their latencies, arrivals per second and failures."""
    for v in visitors:
        v.latencies.clear()
        v.arrivals.clear()
        v.errors.clear()
    outcomes = await asyncio.gather(*(converse(v, chat) for v in visitors))
    latencies = array("d", (ms for v in visitors for ms in v.latencies))
    return {
        "latencies": latencies.tobytes(),
        "arrivals": sum((v.arrivals for v in visitors), Counter()),
        "failed": sum(f for f, _ in outcomes),
        "unfinished": sum(u for _, u in outcomes),
        "errors": sorted({e for v in visitors for e in v.errors})[:5],
    }


def client_process(conn: Connection, url: str, embed_id: str, deflate: bool) -> None:
    """A load-generating process: holds its share of the visitors and obeys the parent's commands."""
    # The services' loop: the load generator's CPU shares the two cores with the edges it measures.
    run_event_loop(_serve_commands(conn, url, embed_id, deflate), RuntimeSettings())


async def _serve_commands(conn: Connection, url: str, embed_id: str, deflate: bool) -> None:
    loop = asyncio.get_running_loop()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    visitors: list[Visitor] = []
    try:
        while True:
            command, arg = await loop.run_in_executor(None, conn.recv)
            if command == "connect":
                visitors, seconds = await connect_all(session, url, embed_id, int(arg), batch=50, deflate=deflate)
                # The visitors live until the round ends; a full collection scanning them all (31-67 ms at 2,000) would
                # be counted as the edge's latency.
                freeze_startup_heap()
                conn.send((seconds, sum(v.compressed for v in visitors)))
            elif command == "stream":
                conn.send(await stream_round(visitors, arg))
            elif command == "close":
                await disconnect_all(visitors)
                visitors = []
                gc.unfreeze()  # the closed visitors' cycles become collectable again
                conn.send(None)
            else:
                return
    finally:
        await disconnect_all(visitors)
        await session.close()


class Clients:
    """The load-generating processes, each with an equal share of the visitors."""

    def __init__(self, count: int, url: str, embed_id: str, *, deflate: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=client_process, args=(child, url, embed_id, deflate), daemon=True)
            process.start()
            self._pipes.append(parent)
            self.processes.append(process)

    def ask_all(self, command: str, args: list[Any]) -> list[Any]:
        """Sends each process its command, then collects every reply."""
        for pipe, arg in zip(self._pipes, args, strict=True):
            pipe.send((command, arg))
        return [pipe.recv() for pipe in self._pipes]

    def shares(self, total: int) -> list[int]:
        """`total` visitors split over the processes."""
        n = len(self._pipes)
        return [total // n + (1 if i < total % n else 0) for i in range(n)]

    def stop(self) -> None:
        """Ends every process."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit", None))
        for process in self.processes:
            process.join(timeout=30)


def rss(processes: list[psutil.Process]) -> int:
    """Resident memory of the edge processes in bytes."""
    return sum(int(p.memory_info().rss) for p in processes)


def cpu(processes: list[psutil.Process]) -> float:
    """CPU % of the processes since the previous call (100 = one core)."""
    return float(sum(p.cpu_percent(interval=None) for p in processes))


def one_round(
    clients: Clients,
    edges: list[psutil.Process],
    others: list[psutil.Process],
    count: int,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Connects `count` visitors (idle row), streams one answer to each (streaming row), disconnects."""
    time.sleep(1.0)
    before = rss(edges)
    cpu(edges)
    start = time.perf_counter()
    connected = clients.ask_all("connect", clients.shares(count))
    connect_seconds = time.perf_counter() - start
    time.sleep(2.0)
    idle = {
        "n": count,
        "mode": "idle",
        "connect_s": connect_seconds,
        "kib_per_conn": (rss(edges) - before) / count / 1024,
        "compressed": sum(c for _, c in connected),
        "edge_cpu": cpu(edges),
    }
    interval = args.interval_ms / 1000
    cpu(edges)
    cpu(others)
    start = time.perf_counter()
    answer_seconds = args.chunks * interval
    chat = Chat(answer_seconds, args.think_s, args.answers, args.duration_s, 60 + 3 * answer_seconds)
    replies = clients.ask_all("stream", [chat] * len(clients.processes))
    streaming: dict[str, Any] = {**idle, "mode": "streaming", "edge_cpu": cpu(edges), "other_cpu": cpu(others)}
    streaming["stream_s"] = time.perf_counter() - start
    latencies = array("d")
    arrivals: Counter[int] = sum((reply["arrivals"] for reply in replies), Counter())
    for reply in replies:
        latencies.frombytes(reply["latencies"])
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    streaming.update(
        p50=cuts[49],
        p99=cuts[98],
        chunks=len(latencies),
        # The offered rate is an average; answers do not start evenly from one second to the next.
        peak_rate=max(arrivals.values(), default=0),
        failed=sum(r["failed"] for r in replies),
        unfinished=sum(r["unfinished"] for r in replies),
    )
    errors = sorted({e for r in replies for e in r["errors"]})
    if errors:
        streaming["errors"] = errors[:5]
    clients.ask_all("close", [None] * len(clients.processes))
    return [idle, streaming]


def streaming_share(args: argparse.Namespace) -> float:
    """The share of the time a visitor is receiving an answer."""
    return busy_share(args.chunks * args.interval_ms / 1000, float(args.think_s))


def load_model(args: argparse.Namespace) -> str:
    """The load the run offers, in words."""
    per_visitor = 1000 / args.interval_ms
    answer_seconds = args.chunks * args.interval_ms / 1000
    if args.think_s:
        pacing = (
            f"for {args.duration_s:g} s each visitor asks, reads the answer and then thinks for {args.think_s:g} s "
            f"(exponential mean) before the next question, starting at a random moment of that steady state, so a "
            f"visitor is receiving an answer {streaming_share(args):.0%} of the time: offered load = visitors x "
            f"{per_visitor:.0f} chunks/s x {streaming_share(args):.2f}"
        )
    else:
        pacing = (
            f"each visitor asks {args.answers} questions back to back; visitors start at random moments within one "
            f"answer ({answer_seconds:.1f} s), so after that every visitor is streaming at once: offered load = "
            f"visitors x {per_visitor:.0f} chunks/s"
        )
    return (
        f"Load model: an answer is {args.chunks} chunks {args.interval_ms} ms apart ({per_visitor:.0f} chunks/s "
        f"per visitor while it streams, as an LLM streaming {per_visitor:.0f} tokens/s); {pacing}. "
        f"{args.edges} edge process(es) on one port (SO_REUSEPORT); {args.clients} client process(es) with raw "
        f"websocket visitors {'offering' if args.deflate else 'not offering'} permessage-deflate; one stand-in "
        "ConversationService process. Latency = upstream stamp -> visitor receipt. "
        f"All on this {os.cpu_count()}-core machine."
    )


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The results as a Markdown table."""
    print(f"\n{load_model(args)}\n")
    print(
        "| visitors | mode      | deflated | offered chunks/s | peak chunks/s | connect (s) | edge RSS/conn (KiB) "
        "| chunks   | p50 (ms) | p99 (ms) | edge CPU % | clients+upstream CPU % |"
    )
    print(
        "|---------:|-----------|---------:|-----------------:|--------------:|------------:|--------------------:|---------:|---------:"
        "|---------:|-----------:|-----------------------:|"
    )
    for r in results:
        streaming = "p50" in r
        rate = r["n"] * 1000 / args.interval_ms * streaming_share(args)
        offered = f"{rate:>16.0f} | {r['peak_rate']:>13}" if streaming else f"{'':>16} | {'':>13}"
        chunk_cols = (
            f"{r['chunks']:>8} | {r['p50']:>8.1f} | {r['p99']:>8.1f}" if streaming else f"{'':>8} | {'':>8} | {'':>8}"
        )
        other = f"{r['other_cpu']:>22.0f}" if streaming else f"{'':>22}"
        print(
            f"| {r['n']:>8} | {r['mode']:<9} | {r['compressed']:>8} | {offered} | {r['connect_s']:>11.1f} "
            f"| {r['kib_per_conn']:>19.1f} | "
            f"{chunk_cols} | {r['edge_cpu']:>10.0f} | {other} |"
        )


async def wait_ready(settings: RuntimeSettings, url: str) -> str:
    """Waits for the services and the edge; returns the embed id of a fresh bot."""
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
    return await create_bot(settings)


def run(
    settings: RuntimeSettings, url: str, edges: list[psutil.Process], upstream: psutil.Process, args: argparse.Namespace
) -> None:
    """Waits for everything, then measures each visitor count idle and streaming."""
    embed_id = asyncio.run(wait_ready(settings, url))
    time.sleep(2.0)  # every edge process's lifespan, not just the first to answer /healthz
    clients = Clients(args.clients, url, embed_id, deflate=args.deflate)
    others = [upstream, *(psutil.Process(p.pid) for p in clients.processes if p.pid is not None)]
    print(load_model(args), flush=True)
    results = []
    try:
        for count in args.visitors:
            for result in one_round(clients, edges, others, count, args):
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        clients.stop()
    print_table(results, args)


def main() -> None:
    """Starts the processes, measures, and stops everything it started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=lambda v: [int(x) for x in v.split(",")], default=[500, 1000, 2000])
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--interval-ms", type=int, default=50)
    parser.add_argument("--answers", type=int, default=2, help="questions each visitor asks back to back")
    parser.add_argument(
        "--think-s", type=float, default=0.0, help="mean pause after each answer (0: every visitor streams at once)"
    )
    parser.add_argument(
        "--duration-s", type=float, default=60.0, help="with --think-s: seconds during which visitors ask"
    )
    parser.add_argument("--edges", type=int, default=os.cpu_count() or 1, help="edge processes on one port")
    parser.add_argument("--clients", type=int, default=1, help="load-generating processes")
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="visitors offer permessage-deflate, as browsers do (the edge decides whether it is used)",
    )
    parser.add_argument("--edge-log", default="", help="append the edges' stderr (their log) to this file")
    parser.add_argument("--serve-paced", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_paced:
        # The services' loop, as for the load generator.
        run_event_loop(serve_paced(args.serve_paced, args.chunks, args.interval_ms / 1000), RuntimeSettings())
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
            "AVATARCHAT_WIDGET_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:12]}",
        }
        if args.edges > 1:
            env["AVATARCHAT_REUSE_PORT"] = "true"
        settings = RuntimeSettings(data_dir=data_dir, database_url=url, service_addresses=addresses)
        commands = [[sys.executable, "-m", m] for m in ("services.auth", "services.tenant", "services.chatbot")]
        paced_args = ["--chunks", str(args.chunks), "--interval-ms", str(args.interval_ms)]
        paced_port = int(addresses["conversation"].rsplit(":", 1)[1])
        commands.append(
            [sys.executable, "-m", "bench.edge_socket_bench", "--serve-paced", str(paced_port), *paced_args]
        )
        commands += [[sys.executable, "-m", "edge"]] * args.edges
        edge_log = open(args.edge_log, "ab") if args.edge_log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        children = [
            subprocess.Popen(c, env=env, cwd=root, stderr=edge_log if c[-1] == "edge" else subprocess.DEVNULL)
            for c in commands
        ]
        try:
            edges = [psutil.Process(c.pid) for c in children[-args.edges :]]
            run(settings, f"http://127.0.0.1:{edge_port}", edges, psutil.Process(children[3].pid), args)
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
