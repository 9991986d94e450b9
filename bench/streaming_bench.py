"""Streaming latency through conversation → ai → a paced local provider, against calling the provider directly.

Starts its own embedded PostgreSQL, the auth, tenant, chatbot, ai and conversation services (each its own
process, as `avatarchat up` does) and an OpenAI-compatible provider process that streams tokens at a fixed
pace over keep-alive HTTP/1.1, as hosted APIs do; every token is a word and the provider's send time, so per-chunk
latency is measured from the provider's write to this client's read.

Each level is a steady state: N conversations are open at once, each a visitor who sends a message, reads the
whole streamed answer, then thinks for a while (exponentially distributed around the stated mean) before the
next message, for the stated duration; each visitor's first message comes at a random moment of that steady
state (bench/chatting.py), so the rate of messages is the steady one from the first second.
The direct path runs the same visitors with the same pauses (same seed) in the same run. The table gives time
to first token (TTFT) and per-chunk latency at p50/p99 and the platform's overhead; `--burst N` adds the old
figure of N messages sent at the same instant, labelled as a burst. The platform path asks for what the widget
gets (the text with its animation cues and viseme cues, each message with a request id); `--text-only` asks
for the text alone.

    .venv/bin/python -m bench.streaming_bench [--levels 1,50,500] [--think-s 0.2,10,10] [--duration-s 30]
        [--tokens 10] [--pace-ms 20] [--burst 500] [--text-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from bench.chatting import first_pause, pause
from services.cli.catalog import MIGRATED_SERVICES
from services.cli.health import wait_serving
from services.runtime import embedded_pg, migrations
from services.runtime.server import freeze_startup_heap, run_event_loop
from services.runtime.settings import SERVICE_PORTS, RuntimeSettings
from services.runtime.tokens import ServiceTokens

PASSWORD = "benchmark passphrase"
SERVICES = ("auth", "tenant", "chatbot", "ai", "conversation")
SENT_AT = "https://sent.invalid/"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the paced provider (runs as its own process: `--serve-provider PORT`) ---------------------------------


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return _sse(body)


def _sse(body: object) -> bytes:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    event = b"data: " + data + b"\n\n"
    return f"{len(event):x}\r\n".encode() + event + b"\r\n"


async def _provider_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tokens: int, pace: float
) -> None:
    try:
        while True:  # keep-alive: one request after another on the connection until the client closes it
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                + _chunk({"role": "assistant", "content": ""})
            )
            for _ in range(tokens):
                await asyncio.sleep(pace)
                # A word, as a real token is, then its send time as a link (which the mouth shapes leave unspoken,
                # as they do any link), so the client can tell how long the chunk took to reach it.
                writer.write(_chunk({"content": f"answer {SENT_AT}{time.time():.6f} "}))
                await writer.drain()
            usage = {"prompt_tokens": 100, "completion_tokens": tokens, "total_tokens": 100 + tokens}
            tail = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench-model"}
            end = _chunk({}, "stop") + _sse({**tail, "choices": [], "usage": usage}) + _sse("[DONE]") + b"0\r\n\r\n"
            writer.write(end)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def serve_provider(port: int, tokens: int, pace: float) -> None:
    """Serves the paced OpenAI-compatible stream until killed."""

    async def run() -> None:
        server = await asyncio.start_server(
            lambda r, w: _provider_connection(r, w, tokens, pace), "127.0.0.1", port, backlog=2048
        )
        async with server:
            freeze_startup_heap()
            await server.serve_forever()

    # The services' loop: the harness's CPU shares the two cores with what it measures.
    run_event_loop(run(), RuntimeSettings())


# --- measuring ------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Milliseconds of one path at one concurrency level."""

    ttft: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    chunk: list[float] = field(default_factory=list)
    errors: int = 0
    sent: Counter[int] = field(default_factory=Counter)
    """Messages sent per second of the run."""
    busy: float = 0.0
    """Seconds spent streaming, summed over answers (÷ duration = answers streaming at once)."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process used while this path ran (the platform path only)."""


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this client, the provider, each service and the embedded PostgreSQL."""
    import psutil  # type: ignore[import-untyped,unused-ignore]

    used: dict[str, float] = {}
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            args = process.cmdline()
            times = process.cpu_times()
        except psutil.Error:
            continue
        if process.pid == me.pid:
            name = "client"
        elif "--serve-provider" in args:
            name = "provider"
        elif "-m" in args and args[args.index("-m") + 1].startswith("services."):
            name = args[args.index("-m") + 1].removeprefix("services.")
        else:
            continue
        used[name] = used.get(name, 0.0) + times.user + times.system
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used["postgres"] = used.get("postgres", 0.0) + times.user + times.system
    return used


def _chunk_latency(text: str, received: float) -> float | None:
    _, marker, sent = text.partition(SENT_AT)
    try:
        return (received - float(sent)) * 1000 if marker else None
    except ValueError:
        return None


async def direct_once(http: httpx.AsyncClient, samples: Samples) -> None:
    """One streamed completion straight from the provider."""
    body = {"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": uuid.uuid4().hex}]}
    started = time.perf_counter()
    first = True
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            content = choices[0]["delta"].get("content") if choices else None
            if not content:
                continue
            now = time.time()
            if first:
                samples.ttft.append((time.perf_counter() - started) * 1000)
                first = False
            latency = _chunk_latency(content, now)
            if latency is not None:
                samples.chunk.append(latency)


@dataclass(frozen=True)
class Platform:
    """How the benchmark reaches the conversation service, and what it asks for."""

    stub: conversation_pb2_grpc.ConversationServiceAsyncStub
    md: tuple[tuple[str, str], ...]
    text_only: bool
    """False asks for what the widget gets (cues and visemes with the text); True for the text alone."""


async def platform_once(platform: Platform, conversation: str, samples: Samples) -> None:
    """One SendMessage through conversation → ai → provider."""
    started = time.perf_counter()
    first = True
    text = f"Question {uuid.uuid4().hex}?"
    # With a request id, as the widget sends each message's clientMessageId.
    request = pb.SendMessageRequest(
        name=conversation, text=text, text_only=platform.text_only, request_id=uuid.uuid4().hex
    )
    async for event in platform.stub.SendMessage(request, metadata=platform.md):
        kind = event.WhichOneof("event")
        if kind == "error":
            samples.errors += 1
        if kind == "started":
            samples.started.append((time.perf_counter() - started) * 1000)
        if kind != "text_delta":
            continue
        now = time.time()
        if first:
            samples.ttft.append((time.perf_counter() - started) * 1000)
            first = False
        latency = _chunk_latency(event.text_delta.text, now)
        if latency is not None:
            samples.chunk.append(latency)


@dataclass(frozen=True)
class Load:
    """The steady-state arrival pattern of one level."""

    visitors: int
    think: float
    """Mean pause between reading an answer and sending the next message, seconds."""
    duration: float
    """Seconds during which visitors send messages (answers under way then still finish)."""
    answer: float
    """Seconds an answer takes to stream, about."""


async def _visitor(
    index: int, load: Load, seed: int, ask: Callable[[Samples], Awaitable[None]], samples: Samples
) -> None:
    rng = random.Random(seed * 100_003 + index)
    start = time.monotonic()
    end = start + load.duration
    await asyncio.sleep(first_pause(rng, load.answer, load.think))
    while time.monotonic() < end:
        began = time.monotonic()
        samples.sent[int(began - start)] += 1
        try:
            await ask(samples)
        except Exception:
            samples.errors += 1
        samples.busy += time.monotonic() - began
        await asyncio.sleep(pause(rng, load.think))


def _provider_client(provider_url: str, visitors: int) -> httpx.AsyncClient:
    """The direct path's client: a kept-alive connection for every visitor, as the AI service keeps them."""
    limits = httpx.Limits(max_connections=visitors + 10, max_keepalive_connections=visitors + 10)
    return httpx.AsyncClient(base_url=provider_url, timeout=60.0, limits=limits)


async def steady(
    load: Load,
    seed: int,
    target: Platform,
    conversations: list[str],
    provider_url: str,
) -> tuple[Samples, Samples]:
    """`load.visitors` visitors for `load.duration` seconds on the direct path, then the same on the platform."""
    direct, platform = Samples(), Samples()
    async with _provider_client(provider_url, load.visitors) as http:
        await asyncio.gather(
            *(_visitor(i, load, seed, lambda s: direct_once(http, s), direct) for i in range(load.visitors))
        )
    before = cpu_seconds()
    await asyncio.gather(
        *(
            _visitor(i, load, seed, lambda s, c=c: platform_once(target, c, s), platform)  # type: ignore[misc]
            for i, c in enumerate(conversations[: load.visitors])
        )
    )
    after = cpu_seconds()
    platform.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    return direct, platform


async def level(
    concurrency: int,
    rounds: int,
    target: Platform,
    conversations: list[str],
    provider_url: str,
) -> tuple[Samples, Samples]:
    """`concurrency` simultaneous streams, `rounds` times, on each path."""
    direct, platform = Samples(), Samples()
    async with _provider_client(provider_url, concurrency) as http:
        for _ in range(rounds):
            await asyncio.gather(*(direct_once(http, direct) for _ in range(concurrency)))
            await asyncio.gather(*(platform_once(target, c, platform) for c in conversations[:concurrency]))
    return direct, platform


def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(
    settings: RuntimeSettings, loads: list[Load], provider_url: str, burst: int, *, text_only: bool
) -> None:
    """Signs a tenant up with an unlimited plan, creates a bot preferring the paced provider, and times each level."""
    operator = ServiceTokens(settings.resolved_internal_secret(), "bench")
    channels = {
        s: grpc.aio.insecure_channel(settings.address_of(s)) for s in ("auth", "tenant", "chatbot", "conversation")
    }
    tenants = tenant_pb2_grpc.TenantServiceStub(channels["tenant"])
    auth = auth_pb2_grpc.AuthServiceStub(channels["auth"])
    slug = f"bench-{uuid.uuid4().hex[:10]}"
    email = f"owner@{slug}.example"
    created = await tenants.CreateTenant(
        tenant_pb2.CreateTenantRequest(
            tenant=tenant_pb2.Tenant(slug=slug, display_name="Bench"),
            owner_email=email,
            owner_password=PASSWORD,
            plan="plans/enterprise",
        ),
        metadata=operator.metadata(),
    )
    token = (await auth.Login(auth_pb2.LoginRequest(tenant_slug=slug, email=email, password=PASSWORD))).tokens
    md = (("authorization", f"Bearer {token.access_token}"),)
    bots = chatbot_pb2_grpc.ChatbotServiceStub(channels["chatbot"])
    personality = chatbot_pb2.Personality(providers=[chatbot_pb2.ProviderPreference(provider="openai")])
    bot = (
        await bots.CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(
                parent=created.tenant.name, chatbot=chatbot_pb2.Chatbot(display_name="Bench", personality=personality)
            ),
            metadata=md,
        )
    ).chatbot
    stub = conversation_pb2_grpc.ConversationServiceStub(channels["conversation"])
    conversations = [
        (
            await stub.CreateConversation(
                pb.CreateConversationRequest(parent=bot.name, conversation=pb.Conversation(visitor_id=f"v{i}")),
                metadata=md,
            )
        ).conversation.name
        for i in range(max([burst, *(load.visitors for load in loads)]))
    ]
    target = Platform(stub, md, text_only)
    await level(1, 20, target, conversations, provider_url)  # warm-up: connections, caches, JIT-free paths
    # As the services do: a full collection of the client's heap (500 channels' calls) held its loop for ~60 ms,
    # which the answers streaming then counted as the platform's or the provider's latency.
    freeze_startup_heap()
    results = {load.visitors: await steady(load, 7, target, conversations, provider_url) for load in loads}
    bursts = {burst: await level(burst, 1, target, conversations, provider_url)} if burst else {}
    for channel in channels.values():
        await channel.close()
    print("\nplatform path: " + ("text only" if text_only else "the widget's events: text, animation cues, visemes"))
    _print(loads, results, bursts)


def _print(
    loads: list[Load],
    results: dict[int, tuple[Samples, Samples]],
    bursts: dict[int, tuple[Samples, Samples]],
) -> None:
    print("\nsteady state per level: N visitors each send, read the whole answer, think, send again\n")
    print("| visitors | think mean s | duration s | path     | answers | msg/s  | peak msg/s | streaming at once |")
    print("|----------|--------------|------------|----------|---------|--------|------------|-------------------|")
    for load in loads:
        for name, s in zip(("direct", "platform"), results[load.visitors], strict=True):
            print(
                f"| {load.visitors:>8} | {load.think:>12.1f} | {load.duration:>10.0f} | {name:<8} | {len(s.ttft):>7} |"
                f" {len(s.ttft) / load.duration:>6.1f} | {max(s.sent.values(), default=0):>10} |"
                f" {s.busy / load.duration:>17.1f} |"
            )
    rows = {f"{n}": r for n, r in results.items()} | {f"{n} burst": r for n, r in bursts.items()}
    print("\nmilliseconds; TTFT = request sent → first token read; chunk = provider write → client read\n")
    header = "| level     | path     | answers | TTFT p50 | TTFT p99 | chunk p50 | chunk p99 | errors |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for n, (direct, platform) in rows.items():
        for name, s in (("direct", direct), ("platform", platform)):
            print(
                f"| {n:<9} | {name:<8} | {len(s.ttft):>7} | {_p(s.ttft, 50):>8.2f} | {_p(s.ttft, 99):>8.2f} |"
                f" {_p(s.chunk, 50):>9.2f} | {_p(s.chunk, 99):>9.2f} | {s.errors:>6} |"
            )
    print("\nplatform: time to the `started` event (question stored, quota taken), p50 / p99:")
    for n, (_, platform) in rows.items():
        print(f"  {n:<9}: {_p(platform.started, 50):.2f} / {_p(platform.started, 99):.2f} ms")
    print("\nplatform overhead (platform − direct); a burst is N messages sent at one instant, not a steady state:\n")
    print("| level     | TTFT p50 | TTFT p99 | chunk p50 | chunk p99 | target met (≤5 / ≤20 ms TTFT) |")
    print("|-----------|----------|----------|-----------|-----------|-------------------------------|")
    for n, (d, p) in rows.items():
        t50, t99 = _p(p.ttft, 50) - _p(d.ttft, 50), _p(p.ttft, 99) - _p(d.ttft, 99)
        c50, c99 = _p(p.chunk, 50) - _p(d.chunk, 50), _p(p.chunk, 99) - _p(d.chunk, 99)
        met = "yes" if t50 <= 5 and t99 <= 20 else "no"
        print(f"| {n:<9} | {t50:>+8.2f} | {t99:>+8.2f} | {c50:>+9.2f} | {c99:>+9.2f} | {met:<29} |")
    names = sorted({name for load in loads for name in results[load.visitors][1].cpu}, key=_cpu_rank)
    print("\nCPU per answer on the platform path, ms (every process shares the same cores; postgres is all of it):\n")
    print("| level     | " + " | ".join(f"{name:>12}" for name in names) + " |        total |")
    print("|-----------|" + "|".join("-" * 14 for _ in [*names, "total"]) + "|")
    for load in loads:
        platform = results[load.visitors][1]
        answers = max(len(platform.ttft), 1)
        cells = [platform.cpu.get(name, 0.0) * 1000 / answers for name in names]
        print(f"| {load.visitors:<9} | " + " | ".join(f"{c:>12.2f}" for c in cells) + f" | {sum(cells):>12.2f} |")


_CPU_ORDER = ["client", "provider", "conversation", "ai", "tenant", "chatbot", "auth", "postgres"]


def _cpu_rank(name: str) -> int:
    return _CPU_ORDER.index(name) if name in _CPU_ORDER else len(_CPU_ORDER)


def main() -> None:
    """Starts the processes, measures, and stops everything it started."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--levels", default="1,50,500", help="visitors (open conversations) per level")
    parser.add_argument("--think-s", default="0.2,10,10", help="mean think time per level, seconds")
    parser.add_argument("--duration-s", type=float, default=30.0, help="seconds of sending per level and path")
    parser.add_argument("--burst", type=int, default=0, help="also send this many messages at one instant")
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--pace-ms", type=float, default=20.0)
    parser.add_argument("--text-only", action="store_true", help="ask for the text alone, without cues and visemes")
    parser.add_argument("--serve-provider", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_provider:
        serve_provider(args.serve_provider, args.tokens, args.pace_ms / 1000)
        return
    levels = [int(x) for x in args.levels.split(",")]
    thinks = [float(x) for x in args.think_s.split(",")]
    if len(thinks) != len(levels):
        parser.error("--think-s needs one value per level")
    answer = args.tokens * args.pace_ms / 1000
    loads = [Load(n, t, args.duration_s, answer) for n, t in zip(levels, thinks, strict=True)]
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="streaming-bench-") as scratch:
        data_dir = Path(scratch)
        url = embedded_pg.ensure_database(data_dir)
        migrations.migrate(url, MIGRATED_SERVICES)
        addresses = {name: f"127.0.0.1:{free_port()}" for name in SERVICE_PORTS}
        provider_port = free_port()
        provider_url = f"http://127.0.0.1:{provider_port}"
        env = {
            **os.environ,
            "AVATARCHAT_DATA_DIR": str(data_dir),
            "AVATARCHAT_DATABASE_URL": url,
            "AVATARCHAT_INTERNAL_SECRET": secrets.token_urlsafe(48),
            "AVATARCHAT_SERVICE_ADDRESSES": json.dumps(addresses),
            "AVATARCHAT_REDIS_URL": "redis://127.0.0.1:6379/9",
            "AVATARCHAT_METRICS_ENABLED": "false",
            "AVATARCHAT_LOG_LEVEL": "WARNING",
            "AVATARCHAT_AI_PROVIDERS": json.dumps(
                [
                    {
                        "id": "openai",
                        "api_key": "sk-bench",
                        "base_url": f"{provider_url}/v1",
                        "default_model": "bench-model",
                    }
                ]
            ),
        }
        settings = RuntimeSettings(
            data_dir=data_dir,
            database_url=url,
            service_addresses=addresses,
            internal_secret=env["AVATARCHAT_INTERNAL_SECRET"],
        )
        provider_cmd = [sys.executable, "-m", "bench.streaming_bench", "--serve-provider", str(provider_port)]
        provider_cmd += ["--tokens", str(args.tokens), "--pace-ms", str(args.pace_ms)]
        children = [subprocess.Popen(provider_cmd, cwd=root)]
        children += [
            subprocess.Popen([sys.executable, "-m", f"services.{s}"], env=env, cwd=root, stderr=subprocess.DEVNULL)
            for s in SERVICES
        ]
        try:
            run_event_loop(_run(settings, loads, provider_url, args.burst, text_only=args.text_only), settings)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
            embedded_pg.stop(data_dir)


async def _run(settings: RuntimeSettings, loads: list[Load], provider_url: str, burst: int, *, text_only: bool) -> None:
    for service in SERVICES:
        if not await wait_serving(settings, service, within_seconds=60):
            raise RuntimeError(f"{service} did not start")
    await measure(settings, loads, provider_url, burst, text_only=text_only)


if __name__ == "__main__":
    main()
