"""The `/widget` handshake against the real chatbot and auth services: origin, embed id, visitor identity."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from edge.realtime.namespace import page_origin
from tests.edge.widget_harness import ORIGIN, Bot, RunningFullEdge, create_widget_bot, widget
from tests.services.conftest import Stack


def _sign(secret: str, visitor_id: str) -> str:
    return hmac.new(secret.encode(), visitor_id.encode(), hashlib.sha256).hexdigest()


async def test_allowed_origin_gets_a_session(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as w:
        [session] = await w.wait_for("session")
        assert w.client.connected
    assert session["chatbot"] == widget_bot.name
    assert session["visitorId"].startswith("anon_")
    assert session["verified"] is False
    assert session["conversation"] is None
    assert session["resumed"] is False
    assert session["greeting"] == "Hi there!"


async def test_anonymous_id_is_kept_across_connections(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}) as first:
        [session] = await first.wait_for("session")
    auth = {"embedId": widget_bot.embed_id, "visitorId": session["visitorId"]}
    async with widget(widget_edge.url, auth) as again:
        [next_session] = await again.wait_for("session")
    assert next_session["visitorId"] == session["visitorId"]


async def test_disallowed_or_missing_origin_is_refused(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    for origin in ("https://evil.example", "https://widget.example", ""):
        async with widget(widget_edge.url, {"embedId": widget_bot.embed_id}, origin, expect_refusal=True) as w:
            assert not w.client.connected
            assert w.refused["code"] == "ORIGIN_NOT_ALLOWED", origin
            assert "may not embed" in w.refused["message"]
            assert not w.of("session")


async def test_unknown_or_malformed_embed_is_refused(widget_edge: RunningFullEdge) -> None:
    unknown = "emb_" + secrets.token_urlsafe(16)[:22]
    async with widget(widget_edge.url, {"embedId": unknown}, expect_refusal=True) as w:
        assert w.refused == {"code": "NOT_FOUND", "message": "unknown embed id"}
    async with widget(widget_edge.url, {"embedId": "nope"}, expect_refusal=True) as w:
        assert w.refused["code"] == "INVALID_ARGUMENT"
    async with widget(widget_edge.url, {"visitorId": "anon_x"}, expect_refusal=True) as w:
        assert w.refused == {"code": "INVALID_ARGUMENT", "message": "auth.embedId is required"}
    async with widget(widget_edge.url, {"embedId": 42}, expect_refusal=True) as w:
        assert w.refused["code"] == "INVALID_ARGUMENT"


async def test_signed_visitor_is_verified(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    auth = {
        "embedId": widget_bot.embed_id,
        "visitorId": "customer-42",
        "visitorSignature": _sign(widget_bot.secret, "customer-42"),
    }
    async with widget(widget_edge.url, auth) as w:
        [session] = await w.wait_for("session")
    assert session["visitorId"] == "customer-42"
    assert session["verified"] is True


async def test_bad_signature_is_refused(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    forged = {
        "embedId": widget_bot.embed_id,
        "visitorId": "customer-42",
        "visitorSignature": _sign("wrong", "customer-42"),
    }
    async with widget(widget_edge.url, forged, expect_refusal=True) as w:
        assert w.refused["code"] == "UNAUTHENTICATED"
        assert not w.client.connected


async def test_unsigned_identity_is_anonymous(widget_edge: RunningFullEdge, widget_bot: Bot) -> None:
    unsigned = {"embedId": widget_bot.embed_id, "visitorId": "customer-42"}
    async with widget(widget_edge.url, unsigned) as w:
        [session] = await w.wait_for("session")
    assert session["visitorId"].startswith("anon_")
    assert session["verified"] is False


async def test_origin_with_port_must_be_listed(widget_edge: RunningFullEdge, stack: Stack) -> None:
    # A domain listed without a port allows any port; one listed with a port allows that port only.
    bot = await create_widget_bot(stack, await stack.new_tenant("widget-port"), allowed_domains=("127.0.0.1:3008",))
    async with widget(widget_edge.url, {"embedId": bot.embed_id}, "http://127.0.0.1:3008") as w:
        await w.wait_for("session")
    for origin in ("http://127.0.0.1:9999", "http://127.0.0.1"):
        async with widget(widget_edge.url, {"embedId": bot.embed_id}, origin, expect_refusal=True) as w:
            assert w.refused["code"] == "ORIGIN_NOT_ALLOWED", origin
    any_port = await create_widget_bot(stack, await stack.new_tenant("widget-any-port"))
    async with widget(widget_edge.url, {"embedId": any_port.embed_id}, "http://127.0.0.1:9999") as w:
        await w.wait_for("session")


def test_page_origin_falls_back_to_the_referer() -> None:
    assert page_origin({"HTTP_ORIGIN": "https://a.example"}) == "https://a.example"
    assert page_origin({"HTTP_REFERER": "http://127.0.0.1:3008/demo?x=1"}) == "http://127.0.0.1:3008"
    assert page_origin({"HTTP_REFERER": "javascript:alert(1)"}) == ""
    assert page_origin({}) == ""


async def test_excluded_page_is_refused_as_not_visible(widget_edge: RunningFullEdge, stack: Stack) -> None:
    """A page whose path the placement excludes is refused NOT_VISIBLE, by auth.pageUrl or by Referer."""
    bot = await create_widget_bot(stack, await stack.new_tenant("widget-paths"), exclude_paths=("/checkout/**",))
    excluded = f"{ORIGIN}/checkout/pay?step=2"
    async with widget(widget_edge.url, {"embedId": bot.embed_id, "pageUrl": excluded}, expect_refusal=True) as w:
        assert not w.client.connected
        assert w.refused == {"code": "NOT_VISIBLE", "message": "the widget does not show on this page now"}
        assert not w.of("session")
    # Without auth.pageUrl the page URL is the handshake's Referer.
    async with widget(widget_edge.url, {"embedId": bot.embed_id}, referer=excluded, expect_refusal=True) as w:
        assert w.refused == {"code": "NOT_VISIBLE", "message": "the widget does not show on this page now"}
    async with widget(widget_edge.url, {"embedId": bot.embed_id, "pageUrl": f"{ORIGIN}/shop/item"}) as w:
        [session] = await w.wait_for("session")
    assert session["chatbot"] == bot.name
    async with widget(widget_edge.url, {"embedId": bot.embed_id}, referer=f"{ORIGIN}/checkout-help") as w:
        await w.wait_for("session")
