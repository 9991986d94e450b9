"""An answer's events skip Redis while one edge holds all sockets of its conversation; tabs elsewhere still get them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from socketio import packet as sio_packet

from edge.realtime.server import encode_event
from tests.edge.test_realtime_chat import TEXT, _indices
from tests.edge.widget_harness import Bot, RunningFullEdge, rejoin, widget


@asynccontextmanager
async def published(edge: RunningFullEdge) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message the edges publish on their Socket.io channel while the block runs."""
    client = aioredis.Redis.from_url(edge.settings.redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(edge.settings.socketio_channel)
    confirmed = await pubsub.get_message(timeout=5)
    assert confirmed is not None
    assert confirmed["type"] == "subscribe"
    messages: list[dict[str, Any]] = []

    async def collect() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                messages.append(json.loads(message["data"]))

    task = asyncio.create_task(collect())
    try:
        yield messages
    finally:
        await asyncio.sleep(0.2)  # what was published last is still on its way
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


def _emits(messages: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("method") == "emit" and m.get("event") == event]


async def test_chunks_skip_redis_until_another_edge_holds_a_tab(
    widget_edges: tuple[RunningFullEdge, RunningFullEdge], widget_bot: Bot
) -> None:
    first, second = widget_edges
    async with widget(first.url, {"embedId": widget_bot.embed_id}) as on_a:
        [session] = await on_a.wait_for("session")
        async with published(first) as alone:
            ack = await on_a.call("message:send", {"text": "only one edge here"})
            await on_a.wait_for("stream:end")
        assert _indices(on_a, ack["messageId"]) == [0, 1, 2, 3]
        # Every event of the answer, the echoed question first, is delivered by the edge itself.
        for event in (
            "message:receive",
            "stream:start",
            "stream:chunk",
            "avatar:animation",
            "avatar:visemes",
            "stream:end",
        ):
            assert on_a.of(event), event
            assert _emits(alone, event) == [], event
        auth = rejoin(widget_bot, session, ack)
        async with widget(second.url, auth) as on_b:
            await on_b.wait_for("session")
            async with published(first) as shared:
                sent = await on_a.call("message:send", {"text": "now two edges hold it"})
                await on_b.wait_for("stream:end")
                await on_a.wait_for("stream:end", 2)
    assert _indices(on_b, sent["messageId"]) == [0, 1, 2, 3, 4]
    assert _indices(on_a, sent["messageId"]) == [0, 1, 2, 3, 4]
    assert [m["data"][0]["index"] for m in _emits(shared, "stream:chunk")] == [0, 1, 2, 3, 4]
    for event in ("message:receive", "stream:start", "stream:end"):
        assert len(_emits(shared, event)) == 1, event
    assert len(on_b.of("message:receive")) == 1


def test_an_emit_is_encoded_as_python_socketio_encodes_it() -> None:
    payload = {"text": "h\u00e9llo \u2028<b>", "index": 3, "visemes": [{"viseme": "aa", "offsetMs": 0}], "none": None}
    for namespace in ("/widget", "/"):
        expected = sio_packet.Packet(sio_packet.EVENT, namespace=namespace, data=["stream:chunk", payload]).encode()
        assert encode_event(namespace, "stream:chunk", payload) == expected


async def test_a_tab_opened_on_another_edge_mid_answer_gets_the_rest_of_it(
    widget_edges: tuple[RunningFullEdge, RunningFullEdge], widget_bot: Bot
) -> None:
    first, second = widget_edges
    words = len(TEXT.split())  # 16 deltas 50 ms apart
    async with widget(first.url, {"embedId": widget_bot.embed_id}) as on_a:
        [session] = await on_a.wait_for("session")
        ack = await on_a.call("message:send", {"text": TEXT})
        await on_a.wait_for("stream:chunk", 2)  # streaming, with this edge alone in the room
        auth = rejoin(widget_bot, session, ack)
        async with widget(second.url, auth) as on_b:
            await on_b.wait_for("session")
            [end] = await on_b.wait_for("stream:end", within=20)
    seen = _indices(on_b, ack["messageId"])
    # Joined without a resume point, the tab sees the answer from some chunk on: every later one, once.
    assert seen, "the relay never learned of the tab on the other edge"
    assert seen == list(range(seen[0], words))
    assert end["message"]["text"] == TEXT
    assert _indices(on_a, ack["messageId"]) == list(range(words))
