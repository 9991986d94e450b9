"""ChatbotService CRUD, plan limits and pagination against the real stack."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.chatbot.store import ChatbotRow, ChatbotStore, NewChatbot
from services.runtime.db import Database
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import chatbots_used, create_bot, get_bot
from tests.services.conftest import Stack

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND

FULL_PERSONALITY = chatbot_pb2.Personality(
    display_name="Ava",
    instructions="You are Ava, the support assistant of Acme.",
    tone=chatbot_pb2.TONE_PROFESSIONAL,
    tone_description="Precise, never pushy.",
    language="de-DE",
    greeting="Hallo! Wie kann ich helfen?",
    fallback_answer="Dazu weiß ich leider nichts.",
    providers=[
        chatbot_pb2.ProviderPreference(provider="anthropic", model="claude-sonnet-4", temperature=0.3),
        chatbot_pb2.ProviderPreference(provider="offline"),
    ],
    max_answer_tokens=800,
    avoided_topics=["politics", "competitor pricing"],
    handoff_text="Write to support@acme.example.",
    intent_examples=[ai_pb2.IntentExample(text="Ich will kündigen", intent=ai_pb2.INTENT_COMPLAINT)],
)
FULL_PLACEMENT = chatbot_pb2.Placement(
    allowed_domains=["www.acme.example", "*.acme.example"],
    include_paths=["/shop/**"],
    exclude_paths=["/shop/checkout/**"],
    position=chatbot_pb2.POSITION_BOTTOM_LEFT,
    offset_x_px=24,
    offset_y_px=32,
    theme=chatbot_pb2.Theme(primary_color="#ff6600", background_color="#ffffff", text_color="#111111"),
    launcher_style=chatbot_pb2.LAUNCHER_STYLE_AVATAR,
    open_delay=duration_pb2.Duration(seconds=5),
    show_on_mobile=True,
    business_hours=chatbot_pb2.BusinessHours(
        time_zone="Europe/Berlin",
        windows=[
            chatbot_pb2.BusinessHoursWindow(day=chatbot_pb2.DAY_OF_WEEK_MONDAY, start_time="09:00", end_time="17:30")
        ],
        hide_outside_hours=False,
        off_hours_message="Wir sind ab 9 Uhr wieder da.",
    ),
)


async def test_create_get_list_update_delete(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("bot")
    md = account.metadata
    kb = f"{account.tenant}/knowledgeBases/{uuid.uuid4()}"
    created = await create_bot(
        bots, account, "Support bot", knowledge_bases=[kb], personality=FULL_PERSONALITY, placement=FULL_PLACEMENT
    )
    assert created.name.startswith(f"{account.tenant}/chatbots/")
    assert created.state == chatbot_pb2.CHATBOT_STATE_ACTIVE
    assert created.embed_id.startswith("emb_")
    assert created.personality == FULL_PERSONALITY
    assert created.placement == FULL_PLACEMENT
    assert list(created.knowledge_bases) == [kb]
    assert not created.HasField("visitor_secret_rotate_time")
    assert created.create_time.seconds > 0

    assert await get_bot(bots, account, created.name) == created
    listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant), metadata=md)
    assert [b.name for b in listed.chatbots] == [created.name]
    assert not listed.next_page_token

    updated = (
        await bots.UpdateChatbot(
            chatbot_pb2.UpdateChatbotRequest(
                chatbot=chatbot_pb2.Chatbot(
                    name=created.name, display_name="Renamed", state=chatbot_pb2.CHATBOT_STATE_PAUSED
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=md,
        )
    ).chatbot
    assert updated.display_name == "Renamed"
    assert updated.state == chatbot_pb2.CHATBOT_STATE_ACTIVE  # not in the mask
    assert list(updated.knowledge_bases) == [kb]
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    await bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=created.name), metadata=md)
    await expect_error(get_bot(bots, account, created.name), NOT_FOUND, "RESOURCE_NOT_FOUND")
    await expect_error(bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=created.name), metadata=md), NOT_FOUND)
    assert await chatbots_used(stack, account) == 0


async def test_create_without_placement_shows_on_mobile_and_defaults(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("bot")
    created = await create_bot(bots, account)
    assert created.placement.show_on_mobile
    assert created.personality == chatbot_pb2.Personality()
    assert created.avatar == ""


async def test_free_plan_allows_two_chatbots_and_deleting_one_frees_a_slot(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("limit")
    first = await create_bot(bots, account, "One")
    await create_bot(bots, account, "Two")
    assert await chatbots_used(stack, account) == 2
    exc = await expect_error(create_bot(bots, account, "Three"), grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
    assert "chatbots" in (exc.details() or "")
    listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant), metadata=account.metadata)
    assert [b.display_name for b in listed.chatbots] == ["One", "Two"]
    await bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=first.name), metadata=account.metadata)
    assert await chatbots_used(stack, account) == 1
    await create_bot(bots, account, "Three")
    assert await chatbots_used(stack, account) == 2


async def test_refused_create_takes_no_quota(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("quota")
    await expect_error(create_bot(bots, account, ""), INVALID, fields={"chatbot.display_name"})
    other = await stack.new_tenant("quota-other")
    await expect_error(
        create_bot(bots, account, avatar=f"{other.tenant}/avatars/{uuid.uuid4()}"), NOT_FOUND, "RESOURCE_NOT_FOUND"
    )
    assert await chatbots_used(stack, account) == 0


class _BrokenStore(ChatbotStore):
    """A store whose insert fails after the quota was reserved."""

    async def create(self, tenant_id: uuid.UUID, new: NewChatbot, embed_id: str) -> ChatbotRow:
        raise RuntimeError("disk full")


async def test_quota_is_released_when_the_insert_fails(stack: Stack, chatbot_db: Database) -> None:
    from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
    from services.chatbot.lifecycle import ChatbotLifecycle
    from services.runtime.quota import PlanQuota
    from services.runtime.tokens import ServiceTokens

    account = await stack.new_tenant("quota-fail")
    tokens = ServiceTokens(stack.settings.resolved_internal_secret(), "chatbot")
    quota = PlanQuota(
        tenant_pb2_grpc.TenantServiceStub(stack.channel("tenant")), tokens, tenant_pb2.LIMIT_KIND_CHATBOTS, 5.0
    )
    lifecycle = ChatbotLifecycle(_BrokenStore(chatbot_db), quota)
    with pytest.raises(RuntimeError, match="disk full"):
        await lifecycle.create(account.tenant_id, NewChatbot(display_name="x"))
    assert await chatbots_used(stack, account) == 0


async def test_list_pages_oldest_first(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("page", plan="plans/starter")
    md = account.metadata
    names = [(await create_bot(bots, account, f"Bot {i}")).name for i in range(5)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await bots.ListChatbots(
            chatbot_pb2.ListChatbotsRequest(parent=account.tenant, page_size=2, page_token=token), metadata=md
        )
        assert len(page.chatbots) <= 2
        seen += [b.name for b in page.chatbots]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    assert pages == 3
    await expect_error(
        bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant, page_token="forged"), metadata=md),
        INVALID,
        fields={"page_token"},
    )
    await expect_error(
        bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant, page_size=-1), metadata=md),
        INVALID,
        fields={"page_size"},
    )
    # A token is bound to its tenant's listing.
    other = await stack.new_tenant("page-other")
    first = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant, page_size=1), metadata=md)
    await expect_error(
        bots.ListChatbots(
            chatbot_pb2.ListChatbotsRequest(parent=other.tenant, page_token=first.next_page_token),
            metadata=other.metadata,
        ),
        INVALID,
        fields={"page_token"},
    )


async def test_unauthenticated_and_malformed_names(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("names")
    bot = await create_bot(bots, account)
    await expect_error(bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=bot.name)), grpc.StatusCode.UNAUTHENTICATED)
    bad_names = ["", account.tenant, f"{account.tenant}/chatbots/nope", f"{account.tenant}/avatars/{uuid.uuid4()}"]
    for bad in bad_names:
        await expect_error(
            bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=bad), metadata=account.metadata),
            INVALID,
            fields={"name"},
        )
    missing = f"{account.tenant}/chatbots/{uuid.uuid4()}"
    await expect_error(
        bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=missing), metadata=account.metadata), NOT_FOUND
    )
    await expect_error(
        bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent="tenants/x"), metadata=account.metadata),
        INVALID,
        fields={"parent"},
    )
