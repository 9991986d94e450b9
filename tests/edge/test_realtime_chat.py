"""The chat path through the edge: message:send → SendMessage stream → protocol events, resume, end.

These run against FakeConversations (conversation.proto's contract) because services/conversation
is built concurrently; `test_send_against_the_real_conversation_service` runs the same flow against
the real service once "conversation" is in RUNNABLE_SERVICES.
"""

from __future__ import annotations

import asyncio

import pytest

from services.cli.catalog import RUNNABLE_SERVICES
from tests.edge.conftest import widget_edge_settings
from tests.edge.widget_harness import Bot, FakeConversations, RunningFullEdge, Widget, rejoin, serve_full_edge, widget
from tests.services.conftest import Stack

TEXT = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"


def _indices(w: Widget, message_id: str) -> list[int]:
    return [c["index"] for c in w.of("stream:chunk") if c["messageId"] == message_id]


async def test_message_send_streams_the_answer(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as w:
        await w.wait_for("session")
        ack = await w.call("message:send", {"text": "hello brave new world", "clientMessageId": "c-1"})
        assert ack["ok"] is True
        message_id = ack["messageId"]
        assert message_id.startswith(ack["conversation"] + "/messages/")
        [end] = await w.wait_for("stream:end")
        names = [name for name, _ in w.events]
    assert names.index("message:receive") < names.index("stream:start") < names.index("stream:chunk")
    assert names[-1] == "stream:end"
    [echo] = w.of("message:receive")
    assert echo["message"]["text"] == "hello brave new world"
    assert echo["message"]["role"] == "MESSAGE_ROLE_VISITOR"
    [start] = w.of("stream:start")
    assert start == {"conversation": ack["conversation"], "messageId": message_id, "requestId": "c-1"}
    assert _indices(w, message_id) == [0, 1, 2, 3]
    assert "".join(c["text"] for c in w.of("stream:chunk")) == "hello brave new world"
    [animation] = w.of("avatar:animation")
    assert animation == {
        "behaviour": "BEHAVIOUR_TALK",
        "clip": "Talk",
        "intensity": 0.5,
        "durationMs": 2000,
        "changed": True,
    }
    chunks = w.of("stream:chunk")
    assert chunks[1] == {
        "messageId": message_id,
        "index": 1,
        "text": " brave",
        "visemes": [{"viseme": "aa", "startMs": 100, "durationMs": 80}],
    }
    assert [c["visemes"][0]["startMs"] for c in chunks] == [0, 100, 200, 300]
    [closing] = w.of("avatar:visemes")
    assert closing == {"messageId": message_id, "cues": [{"viseme": "sil", "startMs": 400, "durationMs": 60}]}
    assert names.index("avatar:visemes") > max(i for i, name in enumerate(names) if name == "stream:chunk")
    [citation] = w.of("message:citation")
    assert citation["citation"] == {
        "index": 1,
        "title": "FAQ",
        "url": "https://x.example/faq",
        "snippet": "…",
        "document": "d",
    }
    assert end["messageId"] == message_id
    assert end["message"]["text"] == "hello brave new world"
    assert end["message"]["state"] == "MESSAGE_STATE_COMPLETE"


async def test_second_message_reuses_the_conversation_and_end_closes_it(
    widget_edge: RunningFullEdge, widget_bot: Bot, fake_conversations: tuple[FakeConversations, str]
) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as w:
        await w.wait_for("session")
        first = await w.call("message:send", {"text": "first"})
        await w.wait_for("stream:end")
        second = await w.call("message:send", {"text": "second"})
        await w.wait_for("stream:end", 2)
        assert first["conversation"] == second["conversation"]
        assert await w.call("conversation:end", {}) == {"ok": True}
        [ended] = await w.wait_for("conversation:end")
        assert ended["conversation"]["name"] == first["conversation"]
        assert ended["conversation"]["state"] == "CONVERSATION_STATE_ENDED"
        third = await w.call("message:send", {"text": "after the end"})
        assert third["ok"] is True
        assert third["conversation"] != first["conversation"]  # a fresh conversation


async def _resume_after(
    url_first: str, url_second: str, bot: Bot, cut_after: int, text: str = TEXT
) -> tuple[Widget, Widget, str, int]:
    """Sends from one socket, drops it after chunk `cut_after`, reconnects (maybe elsewhere) with lastChunk."""
    async with widget(url_first, {"embedId": bot.embed_id}) as first:
        [session] = await first.wait_for("session")
        ack = await first.call("message:send", {"text": text, "clientMessageId": "resume-1"})
        await first.wait_for("stream:chunk", cut_after + 1)
    seen = _indices(first, ack["messageId"])
    auth = rejoin(bot, session, ack, lastChunk={"messageId": ack["messageId"], "index": seen[-1]})
    async with widget(url_second, auth) as second:
        await second.wait_for("session")
        await second.wait_for("stream:end", within=20)
    return first, second, ack["messageId"], seen[-1]


async def test_reconnect_continues_the_stream_without_loss_or_duplicates(
    widget_edge: RunningFullEdge, widget_bot: Bot
) -> None:
    _, second, message_id, last = await _resume_after(widget_edge.url, widget_edge.url, widget_bot, 3)
    words = len(TEXT.split())
    assert _indices(second, message_id) == list(range(last + 1, words))
    [end] = second.of("stream:end")
    assert end["message"]["text"] == TEXT


async def test_reconnect_after_the_answer_ended_gets_the_stored_message(
    widget_edge: RunningFullEdge, widget_bot: Bot
) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as first:
        [session] = await first.wait_for("session")
        ack = await first.call("message:send", {"text": "short answer here"})
        await first.wait_for("stream:chunk", 1)
    auth = rejoin(widget_bot, session, ack, lastChunk={"messageId": ack["messageId"], "index": 0})
    await asyncio.sleep(0.3)  # the answer finishes while the widget is away
    async with widget(widget_edge.url, auth) as again:
        [session_again] = await again.wait_for("session")
        [received] = await again.wait_for("message:receive")
    assert session_again["resumed"] is True
    assert received["message"]["name"] == ack["messageId"]
    assert received["message"]["text"] == "short answer here"
    assert not again.of("stream:chunk")


@pytest.mark.skipif(
    "conversation" not in RUNNABLE_SERVICES,
    reason="services/conversation is not runnable yet (not in services/cli/catalog.py RUNNABLE_SERVICES)",
)
async def test_send_against_the_real_conversation_service(stack: Stack, widget_bot: Bot) -> None:
    settings = widget_edge_settings(stack, stack.settings.address_of("conversation"), "test-sio-real", "test-real")
    async with serve_full_edge(settings) as edge, widget(edge.url, {"embedId": widget_bot.embed_id}) as w:
        await w.wait_for("session")
        ack = await w.call("message:send", {"text": "What can you do?", "clientMessageId": "real-1"}, within=60)
        assert ack["ok"] is True, ack
        [end] = await w.wait_for("stream:end", within=60)
        assert w.of("stream:start")[0]["messageId"] == ack["messageId"]
        chunks = [c for c in w.of("stream:chunk") if c["messageId"] == ack["messageId"]]
        assert [c["index"] for c in chunks] == list(range(len(chunks)))
        assert end["message"]["text"]
        assert await w.call("conversation:end", {}) == {"ok": True}
