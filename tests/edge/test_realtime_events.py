"""Widget events on one edge: validation, typing relay, rate limits and presence."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from edge.realtime.presence import presence_count, presence_key
from tests.edge.widget_harness import Bot, RunningFullEdge, Widget, rejoin, widget


async def _presence_reaches(hub: Any, chatbot: str, count: int, seconds: float = 5.0) -> None:
    """Waits until the chatbot's presence count is `count`: disconnects are handled by the edges in their own time,
    which a loaded machine stretches past a second."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await hub.presence.count(chatbot) == count:
            return
        await asyncio.sleep(0.01)


async def _session(w: Widget) -> dict[str, Any]:
    [session] = await w.wait_for("session")
    return dict(session)


async def test_oversized_and_malformed_events_answer_error(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as w:
        await _session(w)
        ack = await w.call("message:send", {"text": "x" * 4001, "clientMessageId": "c1"})
        assert ack["ok"] is False
        assert ack["error"]["code"] == "INVALID_ARGUMENT"
        assert "4000" in ack["error"]["message"]
        assert (await w.call("message:send", {"text": "   "}))["error"]["code"] == "INVALID_ARGUMENT"
        assert (await w.call("message:send", {"text": "hi", "clientMessageId": "x" * 65}))["ok"] is False
        await w.emit("message:send", "just a string")
        await w.emit("avatar:interaction", {"kind": "kick"})
        await w.emit("no:such-event", {})
        await w.emit("typing:start", {}, {"extra": True})
        errors = await w.wait_for("error", 7)
        assert {e["code"] for e in errors} == {"INVALID_ARGUMENT"}
        await w.emit("avatar:interaction", {"kind": "wave"})
        ack = await w.call("conversation:end", {})  # nothing to end yet: still a valid call
        assert ack == {"ok": True}
        assert len(w.of("error")) == 7  # the valid events raised nothing
        assert w.client.connected


async def test_typing_is_relayed_to_the_rest_of_the_room(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as first:
        session = await _session(first)
        ack = await first.call("message:send", {"text": "hello there", "clientMessageId": "t1"})
        assert ack["ok"] is True
        await first.wait_for("stream:end")
        auth = rejoin(widget_bot, session, ack)
        async with widget(widget_edge.url, auth) as second:
            resumed = await _session(second)
            assert resumed["resumed"] is True
            assert resumed["conversation"] == ack["conversation"]
            await first.emit("typing:start", {})
            assert await second.wait_for("typing:start") == [{"from": "visitor"}]
            await first.emit("typing:stop", {})
            await second.wait_for("typing:stop")
        assert not first.of("typing:start")  # not echoed to the sender


async def test_someone_elses_conversation_is_not_joined(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as owner:
        await _session(owner)
        ack = await owner.call("message:send", {"text": "private words"})
        await owner.wait_for("stream:end")
        intruder_auth = {"embedId": widget_bot.embed_id, "conversationId": ack["conversation"]}
        async with widget(widget_edge.url, intruder_auth) as intruder:
            session = await _session(intruder)
            assert session["resumed"] is False
            assert session["conversation"] is None
            await owner.emit("typing:start", {})
            await owner.call("message:send", {"text": "more private words"})
            await owner.wait_for("stream:end", 2)
            assert not intruder.of("typing:start")
            assert not intruder.of("stream:chunk")


async def test_messages_are_rate_limited_per_visitor(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    limit = widget_edge.settings.widget_message_limit
    # Windows are fixed on the clock: start early in one so the whole burst lands in it.
    window = widget_edge.settings.widget_message_window_seconds
    if (left := window - time.time() % window) < 5:
        await asyncio.sleep(left + 0.05)
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as w:
        await _session(w)
        for n in range(limit):
            assert (await w.call("message:send", {"text": f"question {n}"}))["ok"] is True
        refused = await w.call("message:send", {"text": "one too many"})
        assert refused["ok"] is False
        assert refused["error"]["code"] == "RATE_LIMITED"
        [error] = [e for e in await w.wait_for("error") if e["code"] == "RATE_LIMITED"]
        assert "retry in" in error["message"]
        assert w.client.connected
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as other:
        await _session(other)  # another visitor has a budget of their own
        assert (await other.call("message:send", {"text": "hello"}))["ok"] is True


async def test_presence_counts_sockets_per_chatbot(
    widget_edges: tuple[RunningFullEdge, RunningFullEdge], widget_bot: Bot, redis_client: aioredis.Redis
) -> None:
    first, second = widget_edges
    hub = first.realtime.hub
    assert hub is not None
    prefix, ttl = first.settings.widget_key_prefix, first.settings.presence_ttl_seconds
    # Earlier tests closed their sockets, but the edges may still be handling those disconnects.
    await _presence_reaches(hub, widget_bot.name, 0)
    before = await hub.presence.count(widget_bot.name)
    assert before == 0
    async with (
        widget(first.url, {"embedId": widget_bot.embed_id}) as a,
        widget(first.url, {"embedId": widget_bot.embed_id}) as b,
        widget(second.url, {"embedId": widget_bot.embed_id}) as c,
    ):
        for w in (a, b, c):
            await _session(w)
        assert await presence_count(redis_client, prefix, widget_bot.name, ttl) == before + 3
        await b.client.disconnect()
        await _presence_reaches(hub, widget_bot.name, before + 2)
        assert await hub.presence.count(widget_bot.name) == before + 2
        # A socket of an edge that died stops counting once its last heartbeat is older than the TTL.
        await redis_client.zadd(presence_key(prefix, widget_bot.name), {"dead-edge-socket": time.time() - ttl - 1})
        assert await presence_count(redis_client, prefix, widget_bot.name, ttl) == before + 2
        # A heartbeat stamps every live socket with its time, so live sockets keep counting past the TTL.
        beat = time.time()
        await hub.presence.heartbeat()
        await second.realtime.hub.presence.heartbeat()  # type: ignore[union-attr]
        key = presence_key(prefix, widget_bot.name)
        assert await redis_client.zcard(key) == before + 2
        assert len(await redis_client.zrangebyscore(key, beat, "+inf")) == before + 2, "a live socket was not stamped"
        assert await presence_count(redis_client, prefix, widget_bot.name, ttl) == before + 2
    await _presence_reaches(hub, widget_bot.name, before)
    assert await hub.presence.count(widget_bot.name) == before
