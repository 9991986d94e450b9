"""Server streams over REST (SSE and NDJSON) against a tiny real ConversationService, and upstream deadlines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from avatarchat.ai.v1 import ai_pb2
from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from services.runtime import errors, status
from tests.edge.conftest import RunningEdge, edge_settings_for, serve_edge
from tests.services.conftest import Stack

CONVERSATION = "tenants/t1/chatbots/b1/conversations"
DOMAIN = "avatarchat.conversation"


@dataclass
class Seen:
    """What the fake service was sent, for assertions."""

    requests: list[conversation_pb2.SendMessageRequest] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    time_remaining: list[float | None] = field(default_factory=list)


class FakeConversations(conversation_pb2_grpc.ConversationServiceServicer):
    """Streams a canned answer; conversation ids choose a failure mode."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def SendMessage(
        self, request: conversation_pb2.SendMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[conversation_pb2.SendMessageResponse]:
        """started, two text deltas, the stored message; or an error before or after the first event."""
        self.seen.requests.append(request)
        self.seen.metadata.append({k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)})
        self.seen.time_remaining.append(context.time_remaining())
        if request.name.endswith("/missing"):
            await context.abort_with_status(status.to_status(errors.NotFound(request.name), DOMAIN))
        yield conversation_pb2.SendMessageResponse(
            started=conversation_pb2.StreamStarted(visitor_message=f"{request.name}/messages/v", request_id="r1")
        )
        yield conversation_pb2.SendMessageResponse(text_delta=ai_pb2.TextDelta(text="Hel", index=0))
        if request.name.endswith("/broken"):
            await context.abort_with_status(status.to_status(errors.Unavailable("provider down"), DOMAIN))
        yield conversation_pb2.SendMessageResponse(text_delta=ai_pb2.TextDelta(text="lo", index=1))
        yield conversation_pb2.SendMessageResponse(
            message=conversation_pb2.Message(name=f"{request.name}/messages/a", text="Hello")
        )

    async def GetConversation(
        self, request: conversation_pb2.GetConversationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.GetConversationResponse:
        """Answers after a pause longer than the edge's unary deadline when asked for `.../slow`."""
        self.seen.time_remaining.append(context.time_remaining())
        if request.name.endswith("/slow"):
            await asyncio.sleep(3)
        return conversation_pb2.GetConversationResponse(conversation=conversation_pb2.Conversation(name=request.name))


@dataclass
class StreamingEdge:
    """The edge with `conversation` routed to the fake, and what the fake saw."""

    edge: RunningEdge
    seen: Seen


@pytest.fixture(scope="module")
async def streaming(stack: Stack) -> AsyncIterator[StreamingEdge]:
    """A real grpc.aio server with the fake on a free port, and an edge whose conversation upstream is it."""
    seen = Seen()
    server = grpc.aio.server()
    fake = FakeConversations(seen)  # type: ignore[abstract]  # a fake implements only the RPCs under test
    conversation_pb2_grpc.add_ConversationServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    settings = edge_settings_for(
        stack.settings, service_addresses={"conversation": f"127.0.0.1:{port}"}, call_timeout_seconds=0.5
    )
    try:
        async with serve_edge(settings) as running:
            yield StreamingEdge(running, seen)
    finally:
        await server.stop(0)


def sse_events(text: str) -> list[dict[str, str]]:
    """Parses an SSE body into events (field name → value)."""
    events = []
    for block in text.strip().split("\n\n"):
        event: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            event[name] = value
        events.append(event)
    return events


async def test_send_message_streams_as_sse_with_path_body_and_metadata(streaming: StreamingEdge) -> None:
    http = streaming.edge.http
    response = await http.post(
        f"/v1/{CONVERSATION}/c1:sendMessage",
        json={"text": "hi", "requestId": "idem-1", "textOnly": True},
        headers={"authorization": "Bearer token-for-the-service", "x-request-id": "req-sse-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] == "req-sse-1"
    events = sse_events(response.text)
    assert [e["id"] for e in events] == ["1", "2", "3", "4"]
    payloads = [json.loads(e["data"]) for e in events]
    assert payloads[0]["started"]["requestId"] == "r1"
    assert [p["textDelta"]["text"] for p in payloads[1:3]] == ["Hel", "lo"]
    assert payloads[3]["message"]["text"] == "Hello"
    sent = streaming.seen.requests[-1]
    assert (sent.name, sent.text, sent.request_id, sent.text_only) == (f"{CONVERSATION}/c1", "hi", "idem-1", True)
    metadata = streaming.seen.metadata[-1]
    assert metadata["authorization"] == "Bearer token-for-the-service"
    assert metadata["x-request-id"] == "req-sse-1"
    remaining = streaming.seen.time_remaining[-1]
    assert remaining is not None
    # gRPC rounds a long timeout up on the wire (to whole seconds at this size), so the service may see up to 1 s more.
    timeout = streaming.edge.settings.stream_timeout_seconds
    assert timeout - 5 < remaining <= timeout + 1


async def test_send_message_streams_as_ndjson_when_accepted(streaming: StreamingEdge) -> None:
    response = await streaming.edge.http.post(
        f"/v1/{CONVERSATION}/c2:sendMessage", json={"text": "hi"}, headers={"accept": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 4
    assert all(set(line) == {"result"} for line in lines)
    assert lines[-1]["result"]["message"]["name"] == f"{CONVERSATION}/c2/messages/a"


async def test_error_mid_stream_is_a_final_error_event(streaming: StreamingEdge) -> None:
    http = streaming.edge.http
    sse = await http.post(f"/v1/{CONVERSATION}/broken:sendMessage", json={"text": "hi"})
    assert sse.status_code == 200
    events = sse_events(sse.text)
    assert [e.get("event") for e in events] == [None, None, "error"]
    error = json.loads(events[-1]["data"])["error"]
    assert (error["code"], error["status"], error["message"]) == (503, "UNAVAILABLE", "provider down")
    assert error["details"][0]["reason"] == "UNAVAILABLE"
    ndjson = await http.post(
        f"/v1/{CONVERSATION}/broken:sendMessage", json={"text": "hi"}, headers={"accept": "application/x-ndjson"}
    )
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert "result" in lines[0]
    assert lines[-1]["error"]["status"] == "UNAVAILABLE"


async def test_error_before_the_first_event_is_an_http_error(streaming: StreamingEdge) -> None:
    response = await streaming.edge.http.post(f"/v1/{CONVERSATION}/missing:sendMessage", json={"text": "hi"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["details"][0]["reason"] == "RESOURCE_NOT_FOUND"


async def test_unary_calls_carry_the_deadline_and_a_late_answer_is_504(streaming: StreamingEdge) -> None:
    http = streaming.edge.http
    fine = await http.get(f"/v1/{CONVERSATION}/c3")
    assert fine.status_code == 200, fine.text
    assert fine.json()["name"] == f"{CONVERSATION}/c3"
    remaining = streaming.seen.time_remaining[-1]
    assert remaining is not None
    assert 0 < remaining <= 0.55  # the edge's 0.5 s, give or take clock rounding
    slow = await http.get(f"/v1/{CONVERSATION}/slow")
    assert slow.status_code == 504
    assert slow.json()["error"]["status"] == "DEADLINE_EXCEEDED"
