"""Two edge processes' worth of Socket.io (two apps, two ports) sharing one Redis: any edge reaches any visitor."""

from __future__ import annotations

from tests.edge.test_realtime_chat import TEXT, _indices, _resume_after
from tests.edge.widget_harness import Bot, RunningFullEdge, rejoin, widget


async def test_stream_started_on_one_edge_reaches_a_socket_on_the_other(
    widget_edges: tuple[RunningFullEdge, RunningFullEdge], widget_bot: Bot
) -> None:
    first, second = widget_edges
    assert first.url != second.url
    async with widget(first.url, {"embedId": widget_bot.embed_id}) as on_a:
        [session] = await on_a.wait_for("session")
        ack = await on_a.call("message:send", {"text": "warm up"})
        await on_a.wait_for("stream:end")
        auth = rejoin(widget_bot, session, ack)
        async with widget(second.url, auth) as on_b:
            await on_b.wait_for("session")
            sent = await on_a.call("message:send", {"text": "across two edges", "clientMessageId": "x-1"})
            [end_b] = await on_b.wait_for("stream:end")
            await on_a.wait_for("stream:end", 2)
            await on_b.emit("typing:start", {})
            await on_a.wait_for("typing:start")
    assert _indices(on_b, sent["messageId"]) == [0, 1, 2]
    assert "".join(c["text"] for c in on_b.of("stream:chunk")) == "across two edges"
    assert end_b["message"]["text"] == "across two edges"
    assert [e["message"]["text"] for e in on_b.of("message:receive")] == ["across two edges"]  # the echo


async def test_reconnect_to_the_other_edge_resumes_exactly(
    widget_edges: tuple[RunningFullEdge, RunningFullEdge], widget_bot: Bot
) -> None:
    first, second = widget_edges
    for cut in (0, 5, 9):
        _, resumed, message_id, last = await _resume_after(first.url, second.url, widget_bot, cut)
        assert _indices(resumed, message_id) == list(range(last + 1, len(TEXT.split()))), cut
        assert len(resumed.of("stream:end")) == 1
