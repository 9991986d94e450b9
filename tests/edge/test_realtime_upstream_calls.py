"""What the widget's gRPC calls carry upstream: one request id per socket event, a deadline on every call, and,
with tracing on, the event's trace.

The edge talks to the real chatbot and auth services and to FakeConversations through a recording proxy,
which sees each call's metadata and remaining deadline as the service does.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from avatarchat.auth.v1 import auth_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.conversation.v1 import conversation_pb2
from tests.conftest import free_port
from tests.edge.conftest import edge_settings_for
from tests.edge.recording_proxy import RecordingProxy, SeenCall, serve_recording_proxy
from tests.edge.widget_harness import (
    Bot,
    FakeConversations,
    RunningFullEdge,
    create_widget_bot,
    rejoin,
    serve_full_edge,
    widget,
)
from tests.otlp_collector import Collector
from tests.services.conftest import Stack

#: The unary deadline of the edge under test; short, so a stalled call ends the test quickly.
CALL_SECONDS = 5.0
#: gRPC sends a deadline rounded up, so a service may see a little more than the caller set.
ROUNDING_SECONDS = 1.0
_FRESH_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class ProxiedEdge:
    """A full edge whose chatbot, auth and conversation upstreams are behind one recording proxy."""

    edge: RunningFullEdge
    proxy: RecordingProxy


@asynccontextmanager
async def proxied_edge(stack: Stack, auth: str, conversations: str, **settings: Any) -> AsyncIterator[ProxiedEdge]:
    """A full edge whose chatbot (the stack's), auth and conversation upstreams are behind one recording proxy."""
    targets = {
        chatbot_pb2.DESCRIPTOR.services_by_name["ChatbotService"].full_name: stack.settings.address_of("chatbot"),
        auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name: auth,
        conversation_pb2.DESCRIPTOR.services_by_name["ConversationService"].full_name: conversations,
    }
    async with serve_recording_proxy(targets) as (proxy, address):
        edge_settings = edge_settings_for(
            stack.settings,
            service_addresses={"chatbot": address, "auth": address, "conversation": address},
            socketio_channel=f"test-sio-{uuid.uuid4().hex}",
            widget_key_prefix=f"test-widget:{uuid.uuid4().hex}",
            **settings,
        )
        async with serve_full_edge(edge_settings) as edge:
            yield ProxiedEdge(edge, proxy)


@pytest.fixture(scope="module")
async def proxied(stack: Stack, fake_conversations: tuple[FakeConversations, str]) -> AsyncIterator[ProxiedEdge]:
    """The proxy in front of the stack's chatbot and auth services and the fake conversations, and its edge."""
    auth = stack.settings.address_of("auth")
    async with proxied_edge(stack, auth, fake_conversations[1], call_timeout_seconds=CALL_SECONDS) as running:
        yield running


def _event_calls(proxied: ProxiedEdge, methods: set[str]) -> list[SeenCall]:
    """The calls of these RPCs since the last clear, each checked for a deadline within the configured one."""
    calls = [c for c in proxied.proxy.seen if c.method in methods]
    assert {c.method for c in calls} == methods, proxied.proxy.seen
    settings = proxied.edge.settings
    for call in calls:
        limit = settings.stream_timeout_seconds if call.method == "SendMessage" else settings.call_timeout_seconds
        assert call.time_remaining is not None, call
        assert 0 < call.time_remaining <= limit + ROUNDING_SECONDS, call
    return calls


def _one_request_id(calls: list[SeenCall]) -> str:
    """The x-request-id every call of one socket event carried (they must agree)."""
    ids = {c.metadata.get("x-request-id", "") for c in calls}
    assert len(ids) == 1, calls
    assert "" not in ids, calls
    return ids.pop()


async def test_every_realtime_upstream_call_carries_its_events_request_id_and_a_deadline(
    proxied: ProxiedEdge, stack: Stack
) -> None:
    """Connect, message:send, resume and conversation:end: one x-request-id per event on every call, and a deadline."""
    # A bot of its own: the edge caches a bot's greeting, and the first connect must fetch it.
    widget_bot = await create_widget_bot(stack, await stack.new_tenant("widget-request-ids"))
    proxy = proxied.proxy
    url = proxied.edge.url
    proxy.seen.clear()
    async with widget(url, {"embedId": widget_bot.embed_id}) as w:
        [session] = await w.wait_for("session")
        connect = _one_request_id(_event_calls(proxied, {"ResolveEmbed", "IssueVisitorToken", "GetEmbedConfig"}))
        assert _FRESH_ID.fullmatch(connect)

        proxy.seen.clear()
        ack = await w.call("message:send", {"text": "hello there", "clientMessageId": "client-msg-1"})
        assert ack["ok"] is True, ack
        await w.wait_for("stream:end")
        # The visitor's own id for the message is the request id, so the answer's events and logs line up.
        assert _one_request_id(_event_calls(proxied, {"CreateConversation", "SendMessage"})) == "client-msg-1"

        proxy.seen.clear()
        again = await w.call("message:send", {"text": "and again"})
        assert again["ok"] is True, again
        await w.wait_for("stream:end", 2)
        unnamed = _one_request_id(_event_calls(proxied, {"SendMessage"}))
        assert _FRESH_ID.fullmatch(unnamed)
        assert unnamed != connect

        proxy.seen.clear()
        last_chunk = {"messageId": ack["messageId"], "index": 0}
        async with widget(url, rejoin(widget_bot, session, ack, lastChunk=last_chunk)) as resumed:
            await resumed.wait_for("message:receive")
        resume = _one_request_id(
            _event_calls(proxied, {"ResolveEmbed", "IssueVisitorToken", "GetConversation", "ListMessages"})
        )
        assert resume not in (connect, unnamed)

        proxy.seen.clear()
        assert (await w.call("conversation:end"))["ok"] is True
        ended = _one_request_id(_event_calls(proxied, {"EndConversation"}))
        assert ended not in (connect, unnamed, resume)


async def test_an_upstream_that_never_answers_fails_the_event_at_its_deadline(
    proxied: ProxiedEdge, widget_bot: Bot
) -> None:
    """A CreateConversation that never answers ends in a failed ack and an `error` event, not a hung socket."""
    proxy = proxied.proxy
    async with widget(proxied.edge.url, {"embedId": widget_bot.embed_id}) as w:
        await w.wait_for("session")
        proxy.stalled.add("CreateConversation")
        try:
            # Generous next to CALL_SECONDS: only a missing deadline lets this run out.
            ack = await w.call("message:send", {"text": "anyone there?"}, within=30 + CALL_SECONDS)
        finally:
            proxy.stalled.discard("CreateConversation")
        [error] = await w.wait_for("error")
    expected = {"code": "UNAVAILABLE", "message": "the chat service is unavailable, try again"}
    assert ack == {"ok": False, "error": expected}
    assert error == expected
    [stalled] = proxy.calls("CreateConversation")[-1:]
    assert stalled.time_remaining is not None
    assert stalled.time_remaining <= CALL_SECONDS + ROUNDING_SECONDS


async def test_a_visitor_token_near_its_expiry_is_renewed_before_the_events_calls(
    stack: Stack, fake_conversations: tuple[FakeConversations, str]
) -> None:
    """Visitor tokens living less than the renewal margin are minted again before each event's calls."""
    auth = importlib.import_module("services.auth.server")
    # Below the gateway's one-minute margin: no token is ever fresh enough to reuse.
    short_lived = auth.SETTINGS(**{**stack.settings.model_dump(), "auth_visitor_token_ttl_seconds": 30})
    host = await auth.build(short_lived, port=free_port())
    await host.start()
    try:
        bot = await create_widget_bot(stack, await stack.new_tenant("widget-renew"))
        async with proxied_edge(stack, f"127.0.0.1:{host.port}", fake_conversations[1]) as running:
            proxy = running.proxy
            async with widget(running.edge.url, {"embedId": bot.embed_id}) as w:
                await w.wait_for("session")
                sent: list[str] = []
                for n, text in enumerate(("hello there", "and again"), start=1):
                    proxy.seen.clear()
                    assert (await w.call("message:send", {"text": text}))["ok"] is True
                    await w.wait_for("stream:end", n)
                    methods = [c.method for c in proxy.seen]
                    # The renewal comes first, so no call of the event goes out with an expiring token.
                    assert methods[0] == "IssueVisitorToken", methods
                    [stream] = proxy.calls("SendMessage")
                    sent.append(stream.metadata["authorization"])
        assert sent[0] != sent[1], "each message went out with a newly minted token"
    finally:
        await host.stop(0.5)


async def test_with_tracing_socket_events_and_rest_requests_are_traces_with_their_upstream_calls(
    stack: Stack, fake_conversations: tuple[FakeConversations, str], otlp: Collector
) -> None:
    """With the OTLP exporter on, each socket event and each REST request is a span, its upstream calls are its
    children, and each call carries the trace to the service; health checks and Socket.io's own requests are not
    traced."""
    bot = await create_widget_bot(stack, await stack.new_tenant("widget-traced"))
    auth = stack.settings.address_of("auth")
    async with proxied_edge(stack, auth, fake_conversations[1], otel_exporter="otlp") as running:
        async with widget(running.edge.url, {"embedId": bot.embed_id}) as w:
            await w.wait_for("session")
            assert (await w.call("message:send", {"text": "hello there"}))["ok"] is True
            await w.wait_for("stream:end")
        [sent] = running.proxy.calls("SendMessage")
        async with httpx.AsyncClient(base_url=running.edge.url) as http:
            assert (await http.get("/v1/plans")).status_code == 200
            # Answered (SERVING or not: some upstreams here are stand-ins), but not traced.
            assert (await http.get("/healthz")).status_code in (200, 503)
    spans = await otlp.spans_after_flush()
    [plans] = [s for s in spans if s.name.endswith("/ListPlans")]
    [request] = [s for s in spans if s.span_id == plans.parent_span_id]
    assert (request.kind, request.trace_id) == (trace_pb2.Span.SPAN_KIND_SERVER, plans.trace_id), request
    assert request.name.startswith("GET"), request
    assert not [s for s in spans if "healthz" in s.name or "socket.io" in s.name.replace("socket.io ", "")], spans
    for event_name, methods in (
        ("socket.io connect", {"ResolveEmbed", "IssueVisitorToken"}),
        ("socket.io message:send", {"CreateConversation", "SendMessage"}),
    ):
        [event] = [s for s in spans if s.name == event_name]
        assert event.kind == trace_pb2.Span.SPAN_KIND_SERVER, event
        children = [s for s in spans if s.parent_span_id == event.span_id]
        assert {s.name.rsplit("/", 1)[1] for s in children} >= methods, (event, children)
        assert {(s.trace_id, s.kind) for s in children} == {(event.trace_id, trace_pb2.Span.SPAN_KIND_CLIENT)}
    # W3C traceparent: version-trace id-parent id-flags.
    assert sent.metadata["traceparent"].split("-")[1] == event.trace_id.hex(), sent.metadata
