"""What the realtime tests stand on: the full edge (REST + Socket.io) on uvicorn, a widget client, a chatbot.

`FakeConversations` serves ConversationService as conversation.proto specifies it (visitor-scoped
conversations, a SendMessage stream of started → deltas/cues/citations → message), so the edge's
side of the chat path is tested before services/conversation exists; test_realtime_chat.py runs the
same flow against the real service once it is runnable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import jwt
import socketio
import uvicorn
from google.protobuf import duration_pb2

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from edge.assembly import build_edge_app
from edge.listener import server_config
from edge.realtime.server import Realtime
from edge.settings import EdgeSettings
from services.ai.visemes import VisemeCue
from tests.conftest import free_port
from tests.services.conftest import Account, Stack

ORIGIN = "https://shop.widget.example"
NAMESPACE = "/widget"


@dataclass
class RunningFullEdge:
    """A full edge on loopback and its Socket.io server (for presence and other internals)."""

    url: str
    settings: EdgeSettings
    realtime: Realtime


@asynccontextmanager
async def serve_full_edge(settings: EdgeSettings) -> AsyncIterator[RunningFullEdge]:
    """Runs `build_edge_app(settings)` under uvicorn until the block ends."""
    app, realtime = build_edge_app(settings)
    config = server_config(app, settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError("the edge did not start")
    try:
        yield RunningFullEdge(f"http://127.0.0.1:{settings.http_port}", settings, realtime)
    finally:
        server.should_exit = True
        await task


@dataclass
class Bot:
    """A chatbot whose widget may load on ORIGIN, with its visitor secret."""

    name: str
    embed_id: str
    secret: str


async def create_widget_bot(
    stack: Stack,
    account: Account,
    greeting: str = "Hi there!",
    allowed_domains: tuple[str, ...] = ("shop.widget.example", "127.0.0.1"),
    exclude_paths: tuple[str, ...] = (),
) -> Bot:
    """Creates a chatbot allowed on ORIGIN (unless told other domains) and gives it a visitor secret."""
    bots = chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))
    created = await bots.CreateChatbot(
        chatbot_pb2.CreateChatbotRequest(
            parent=account.tenant,
            chatbot=chatbot_pb2.Chatbot(
                display_name="Ava",
                personality=chatbot_pb2.Personality(greeting=greeting),
                placement=chatbot_pb2.Placement(
                    allowed_domains=list(allowed_domains), exclude_paths=list(exclude_paths)
                ),
            ),
        ),
        metadata=account.metadata,
    )
    rotated = await bots.RotateVisitorSecret(
        chatbot_pb2.RotateVisitorSecretRequest(name=created.chatbot.name), metadata=account.metadata
    )
    return Bot(created.chatbot.name, created.chatbot.embed_id, rotated.secret)


@dataclass
class Widget:
    """A Socket.io client in the widget's place, recording every event it receives."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    refused: Any = None

    def of(self, name: str) -> list[Any]:
        """Payloads of one event, in arrival order."""
        return [payload for event, payload in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, within: float = 10.0) -> list[Any]:
        """Waits until `count` events called `name` arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.of(name)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} {name!r} events, got {self.events!r}")
            await asyncio.sleep(0.01)
        return self.of(name)

    async def call(self, event: str, payload: Any = None, within: float = 10.0) -> Any:
        """Emits an event and returns its ack."""
        return await self.client.call(
            event, payload if payload is not None else {}, namespace=NAMESPACE, timeout=within
        )

    async def emit(self, event: str, *payload: Any) -> None:
        """Emits an event without waiting for an ack."""
        await self.client.emit(event, payload[0] if len(payload) == 1 else tuple(payload), namespace=NAMESPACE)


def rejoin(bot: Bot, session: dict[str, Any], ack: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Handshake auth for another tab of the session's visitor in the conversation that `ack` answered."""
    return {"embedId": bot.embed_id, "visitorId": session["visitorId"], "conversationId": ack["conversation"], **extra}


@asynccontextmanager
async def widget(
    url: str, auth: dict[str, Any], origin: str = ORIGIN, *, referer: str = "", expect_refusal: bool = False
) -> AsyncIterator[Widget]:
    """A connected widget socket (or, with expect_refusal, one whose refusal is in `.refused`)."""
    headers = {"Origin": origin} if origin else {}
    if referer:
        headers["Referer"] = referer
    client = socketio.AsyncClient(reconnection=False)
    recorder = Widget(client)

    @client.on("*", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def record(event: str, *args: Any) -> None:
        recorder.events.append((event, args[0] if len(args) == 1 else args))

    @client.on("connect_error", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def refused(data: Any) -> None:
        # As socket.io-client's `err.data`: the server's `{code, message}` under the packet's `data`.
        recorder.refused = data.get("data") if isinstance(data, dict) else data

    try:
        await client.connect(
            url,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            auth=auth,
            headers=headers,
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError:
        if not expect_refusal:
            raise
    try:
        yield recorder
    finally:
        await client.disconnect()
        await client.shutdown()


def _visitor_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The visitor id of the caller's (unverified here; the real service verifies) visitor token."""
    auth = dict(context.invocation_metadata() or ()).get("authorization", "")
    token = str(auth).removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    if claims.get("typ") != "visitor":
        raise PermissionError("visitor token expected")
    return str(claims["sub"])


class FakeConversations(conversation_pb2_grpc.ConversationServiceServicer):
    """ConversationService by its contract, with scripted answers: "a b c" streams back as three deltas."""

    def __init__(self, delta_delay: float = 0.0) -> None:
        self.delta_delay = delta_delay
        self.conversations: dict[str, conversation_pb2.Conversation] = {}
        self.messages: dict[str, list[conversation_pb2.Message]] = {}
        self.calls: list[str] = []

    async def CreateConversation(
        self, request: conversation_pb2.CreateConversationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.CreateConversationResponse:
        self.calls.append("CreateConversation")
        name = f"{request.parent}/conversations/{uuid.uuid4()}"
        conversation = conversation_pb2.Conversation(
            name=name,
            visitor_id=_visitor_of(context),
            state=conversation_pb2.CONVERSATION_STATE_ACTIVE,
            channel=conversation_pb2.CHANNEL_WIDGET,
            page_url=request.conversation.page_url,
        )
        self.conversations[name] = conversation
        self.messages[name] = []
        return conversation_pb2.CreateConversationResponse(conversation=conversation)

    async def _own(self, name: str, context: grpc.aio.ServicerContext[Any, Any]) -> conversation_pb2.Conversation:
        found = self.conversations.get(name)
        if found is None or found.visitor_id != _visitor_of(context):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"conversation {name} not found")
        assert found is not None
        return found

    async def GetConversation(
        self, request: conversation_pb2.GetConversationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.GetConversationResponse:
        return conversation_pb2.GetConversationResponse(conversation=await self._own(request.name, context))

    async def SendMessage(
        self, request: conversation_pb2.SendMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[conversation_pb2.SendMessageResponse]:
        self.calls.append("SendMessage")
        conversation = await self._own(request.name, context)
        if conversation.state != conversation_pb2.CONVERSATION_STATE_ACTIVE:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "conversation ended")
        stored = self.messages[request.name]
        visitor = conversation_pb2.Message(
            name=f"{request.name}/messages/{uuid.uuid4()}",
            role=conversation_pb2.MESSAGE_ROLE_VISITOR,
            text=request.text,
            state=conversation_pb2.MESSAGE_STATE_COMPLETE,
            request_id=request.request_id,
        )
        stored.append(visitor)
        answer_name = f"{request.name}/messages/{uuid.uuid4()}"
        yield conversation_pb2.SendMessageResponse(
            started=conversation_pb2.StreamStarted(
                visitor_message=visitor.name, assistant_message=answer_name, request_id=request.request_id
            )
        )
        yield conversation_pb2.SendMessageResponse(
            animation_cue=ai_pb2.AnimationCue(
                behaviour=ai_pb2.BEHAVIOUR_TALK, clip="Talk", intensity=0.5, duration=duration_pb2.Duration(seconds=2)
            )
        )
        words = request.text.split()
        for index, word in enumerate(words):
            if self.delta_delay:
                await asyncio.sleep(self.delta_delay)
            text = word if index == 0 else f" {word}"
            cue = VisemeCue("aa", 100 * index, 80).to_proto()
            yield conversation_pb2.SendMessageResponse(
                text_delta=ai_pb2.TextDelta(text=text, index=index, visemes=[cue])
            )
        closing = VisemeCue("sil", 100 * len(words), 60).to_proto()
        yield conversation_pb2.SendMessageResponse(viseme_cues=ai_pb2.VisemeCues(index=len(words) - 1, cues=[closing]))
        yield conversation_pb2.SendMessageResponse(
            citation=ai_pb2.Citation(index=1, title="FAQ", url="https://x.example/faq", snippet="…", document="d")
        )
        answer = conversation_pb2.Message(
            name=answer_name,
            role=conversation_pb2.MESSAGE_ROLE_ASSISTANT,
            text=" ".join(words),
            state=conversation_pb2.MESSAGE_STATE_COMPLETE,
            request_id=request.request_id,
        )
        stored.append(answer)
        yield conversation_pb2.SendMessageResponse(message=answer)

    async def ListMessages(
        self, request: conversation_pb2.ListMessagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.ListMessagesResponse:
        await self._own(request.parent, context)
        return conversation_pb2.ListMessagesResponse(messages=self.messages[request.parent])

    async def ListVisitorConversations(
        self, request: conversation_pb2.ListVisitorConversationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.ListVisitorConversationsResponse:
        visitor = _visitor_of(context)
        mine = [c for c in self.conversations.values() if c.visitor_id == visitor and c.name.startswith(request.parent)]
        return conversation_pb2.ListVisitorConversationsResponse(conversations=mine[::-1])

    async def EndConversation(
        self, request: conversation_pb2.EndConversationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> conversation_pb2.EndConversationResponse:
        conversation = await self._own(request.name, context)
        conversation.state = conversation_pb2.CONVERSATION_STATE_ENDED
        return conversation_pb2.EndConversationResponse(conversation=conversation)


@asynccontextmanager
async def serve_fake_conversations(fake: FakeConversations) -> AsyncIterator[str]:
    """The fake on a free loopback port; yields its address."""
    server = grpc.aio.server()
    conversation_pb2_grpc.add_ConversationServiceServicer_to_server(fake, server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield address
    finally:
        await server.stop(0.2)
