"""ResolveEmbed, the edge's connect-time check: origin, page path, business hours and visitor identity."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf import field_mask_pb2

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.chatbot import visitor_identity
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import create_bot, edge
from tests.services.conftest import Account, Stack

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _request(embed_id: str, **fields: str) -> chatbot_pb2.ResolveEmbedRequest:
    return chatbot_pb2.ResolveEmbedRequest(embed_id=embed_id, **fields)


async def _placement(
    bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, account: Account, name: str, placement: chatbot_pb2.Placement
) -> None:
    await bots.UpdatePlacement(
        chatbot_pb2.UpdatePlacementRequest(name=name, placement=placement), metadata=account.metadata
    )


async def test_origin_and_page_checks(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("resolve")
    bot = await create_bot(
        bots,
        account,
        placement=chatbot_pb2.Placement(
            allowed_domains=["*.acme.example", "localhost:3000"],
            include_paths=["/shop/**", "/help"],
            exclude_paths=["/shop/checkout/**"],
        ),
    )

    async def resolve(origin: str, page_url: str = "") -> chatbot_pb2.ResolveEmbedResponse:
        return await bots.ResolveEmbed(_request(bot.embed_id, origin=origin, page_url=page_url), metadata=edge(stack))

    ok = await resolve("https://shop.acme.example", "https://shop.acme.example/shop/shoes?x=1")
    assert ok.chatbot == bot.name
    assert ok.origin_allowed
    assert ok.visible
    assert not (await resolve("https://acme.example")).origin_allowed  # the apex is not a subdomain
    assert not (await resolve("https://acme.example.evil.net")).origin_allowed
    assert (await resolve("http://localhost:3000")).origin_allowed
    assert not (await resolve("http://localhost:3001")).origin_allowed
    assert not (await resolve("null")).origin_allowed
    assert not (await resolve("")).origin_allowed
    assert not (await resolve("https://shop.acme.example", "https://shop.acme.example/shop/checkout/pay")).visible
    assert not (await resolve("https://shop.acme.example", "https://shop.acme.example/about")).visible
    assert (await resolve("https://shop.acme.example", "https://shop.acme.example/help/")).visible
    assert (await resolve("https://shop.acme.example")).visible  # no page URL: no path check

    # With no allowed domains the bot is embeddable nowhere yet.
    await _placement(bots, account, bot.name, chatbot_pb2.Placement())
    empty = await resolve("https://shop.acme.example", "https://shop.acme.example/anything")
    assert not empty.origin_allowed
    assert empty.visible


async def test_business_hours_decide_visibility(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("hours")
    bot = await create_bot(bots, account, placement=chatbot_pb2.Placement(allowed_domains=["acme.example"]))
    today = datetime.now(UTC).isoweekday()
    other_day = (today + 2) % 7 + 1  # three days ahead: never today, even across midnight
    closed = [chatbot_pb2.BusinessHoursWindow(day=other_day, start_time="00:00", end_time="24:00")]  # type: ignore[arg-type]
    always = [
        chatbot_pb2.BusinessHoursWindow(day=day, start_time="00:00", end_time="24:00")  # type: ignore[arg-type]
        for day in range(1, 8)
    ]

    async def visible(windows: list[chatbot_pb2.BusinessHoursWindow], hide: bool) -> bool:
        hours = chatbot_pb2.BusinessHours(time_zone="UTC", windows=windows, hide_outside_hours=hide)
        await _placement(
            bots, account, bot.name, chatbot_pb2.Placement(allowed_domains=["acme.example"], business_hours=hours)
        )
        response = await bots.ResolveEmbed(_request(bot.embed_id, origin="https://acme.example"), metadata=edge(stack))
        assert response.origin_allowed
        return response.visible

    assert not await visible(closed, hide=True)
    assert await visible(closed, hide=False)  # shown with the off-hours message
    assert await visible(always, hide=True)
    assert await visible([], hide=True)  # no windows: always open


async def test_visitor_identity(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("visitor")
    bot = await create_bot(bots, account, placement=chatbot_pb2.Placement(allowed_domains=["acme.example"]))
    md = edge(stack)
    origin = "https://acme.example"

    fresh = await bots.ResolveEmbed(_request(bot.embed_id, origin=origin), metadata=md)
    assert visitor_identity.is_anonymous_id(fresh.visitor_id)
    assert not fresh.visitor_verified
    again = await bots.ResolveEmbed(_request(bot.embed_id, origin=origin, visitor_id=fresh.visitor_id), metadata=md)
    assert again.visitor_id == fresh.visitor_id
    assert not again.visitor_verified

    # An identity claimed without a signature is treated as anonymous: a fresh anonymous id, never the claim.
    for claim in ("user-42", "anon_not-a-uuid", fresh.visitor_id.upper()):
        unsigned = await bots.ResolveEmbed(_request(bot.embed_id, origin=origin, visitor_id=claim), metadata=md)
        assert visitor_identity.is_anonymous_id(unsigned.visitor_id), claim
        assert unsigned.visitor_id not in {claim, fresh.visitor_id}
        assert not unsigned.visitor_verified
    # A signature while the bot has no secret is refused.
    await expect_error(
        bots.ResolveEmbed(
            # Signed with an empty key: what a bot without a secret would accept if it checked against one.
            _request(
                bot.embed_id,
                origin=origin,
                visitor_id="user-42",
                visitor_signature=visitor_identity.signature("", "user-42"),
            ),
            metadata=md,
        ),
        UNAUTHENTICATED,
        "UNAUTHENTICATED",
    )

    secret = (
        await bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=account.metadata)
    ).secret
    signed = visitor_identity.signature(secret, "user-42")
    verified = await bots.ResolveEmbed(
        _request(bot.embed_id, origin=origin, visitor_id="user-42", visitor_signature=signed), metadata=md
    )
    assert (verified.visitor_id, verified.visitor_verified) == ("user-42", True)
    config = (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert config.visitor_identity_enabled
    for visitor_id, signature in [
        ("user-43", signed),  # someone else's signature
        ("user-42", signed[:-1] + ("0" if signed[-1] != "0" else "1")),
        ("user-42", "not hex"),
    ]:
        await expect_error(
            bots.ResolveEmbed(
                _request(bot.embed_id, origin=origin, visitor_id=visitor_id, visitor_signature=signature), metadata=md
            ),
            UNAUTHENTICATED,
        )
    await expect_error(
        bots.ResolveEmbed(_request(bot.embed_id, origin=origin, visitor_signature=signed), metadata=md),
        INVALID,
        fields={"visitor_id"},
    )
    await expect_error(
        bots.ResolveEmbed(_request(bot.embed_id, origin=origin, visitor_id="u" * 300), metadata=md),
        INVALID,
        fields={"visitor_id"},
    )

    # After a rotation the old secret's signatures stop verifying at once.
    await bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=account.metadata)
    await expect_error(
        bots.ResolveEmbed(
            _request(bot.embed_id, origin=origin, visitor_id="user-42", visitor_signature=signed), metadata=md
        ),
        UNAUTHENTICATED,
    )


async def test_resolve_embed_is_internal_and_tenant_scoped(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("internal")
    other = await stack.new_tenant("internal-other")
    bot = await create_bot(bots, account, placement=chatbot_pb2.Placement(allowed_domains=["acme.example"]))
    request = _request(bot.embed_id, origin="https://acme.example")
    await expect_error(bots.ResolveEmbed(request), UNAUTHENTICATED)
    await expect_error(
        bots.ResolveEmbed(request, metadata=account.metadata), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"
    )
    await expect_error(
        bots.ResolveEmbed(request, metadata=stack.operator.metadata(other.tenant_id)),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )
    scoped = await bots.ResolveEmbed(request, metadata=stack.operator.metadata(account.tenant_id))
    assert scoped.chatbot == bot.name
    await bots.UpdateChatbot(
        chatbot_pb2.UpdateChatbotRequest(
            chatbot=chatbot_pb2.Chatbot(name=bot.name, state=chatbot_pb2.CHATBOT_STATE_PAUSED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=account.metadata,
    )
    await expect_error(bots.ResolveEmbed(request, metadata=edge(stack)), grpc.StatusCode.NOT_FOUND)
