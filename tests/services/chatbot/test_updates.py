"""Field-mask updates of chatbots, personalities and placements, and bad input answered field by field."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import duration_pb2, field_mask_pb2

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import chatbots_used, create_bot, get_bot
from tests.services.chatbot.test_chatbots import FULL_PERSONALITY, FULL_PLACEMENT
from tests.services.conftest import Stack

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    """A field mask of `paths`."""
    return field_mask_pb2.FieldMask(paths=list(paths))


async def test_update_chatbot_mask_rules(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("upd")
    md = account.metadata
    bot = await create_bot(bots, account, personality=FULL_PERSONALITY)
    kb = f"{account.tenant}/knowledgeBases/{uuid.uuid4()}"
    paused = (
        await bots.UpdateChatbot(
            chatbot_pb2.UpdateChatbotRequest(
                chatbot=chatbot_pb2.Chatbot(
                    name=bot.name, state=chatbot_pb2.CHATBOT_STATE_PAUSED, knowledge_bases=[kb]
                ),
                update_mask=mask("state", "knowledge_bases"),
            ),
            metadata=md,
        )
    ).chatbot
    assert paused.state == chatbot_pb2.CHATBOT_STATE_PAUSED
    assert list(paused.knowledge_bases) == [kb]
    assert paused.display_name == bot.display_name
    assert paused.personality == FULL_PERSONALITY
    # An empty mask sets all three: unset state means active, no knowledge bases clears them.
    replaced = (
        await bots.UpdateChatbot(
            chatbot_pb2.UpdateChatbotRequest(chatbot=chatbot_pb2.Chatbot(name=bot.name, display_name="All three")),
            metadata=md,
        )
    ).chatbot
    assert (replaced.display_name, replaced.state, list(replaced.knowledge_bases)) == (
        "All three",
        chatbot_pb2.CHATBOT_STATE_ACTIVE,
        [],
    )
    for path in ("personality", "placement.theme", "avatar", "embed_id", "name", "nonsense"):
        await expect_error(
            bots.UpdateChatbot(
                chatbot_pb2.UpdateChatbotRequest(chatbot=chatbot_pb2.Chatbot(name=bot.name), update_mask=mask(path)),
                metadata=md,
            ),
            INVALID,
            "INVALID_FIELD",
            {"update_mask"},
        )
    other = await stack.new_tenant("upd-other")
    await expect_error(
        bots.UpdateChatbot(
            chatbot_pb2.UpdateChatbotRequest(
                chatbot=chatbot_pb2.Chatbot(
                    name=bot.name,
                    display_name="x" * 101,
                    state=7,  # type: ignore[arg-type]
                    knowledge_bases=[f"{other.tenant}/knowledgeBases/{uuid.uuid4()}", "kb/1"],
                ),
            ),
            metadata=md,
        ),
        INVALID,
        "INVALID_FIELD",
        {"chatbot.display_name", "chatbot.state", "chatbot.knowledge_bases[0]", "chatbot.knowledge_bases[1]"},
    )
    assert (await get_bot(bots, account, bot.name)) == replaced


async def test_update_personality_with_field_mask(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("pers")
    md = account.metadata
    bot = await create_bot(bots, account, personality=FULL_PERSONALITY)
    changed = (
        await bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(
                name=bot.name,
                personality=chatbot_pb2.Personality(
                    greeting="  Hi there!  ",
                    instructions="ignored: not in the mask",
                    providers=[chatbot_pb2.ProviderPreference(provider="openai", model="gpt-4o-mini", temperature=1.5)],
                ),
                update_mask=mask("greeting", "providers"),
            ),
            metadata=md,
        )
    ).chatbot.personality
    assert changed.greeting == "Hi there!"  # trimmed
    assert changed.instructions == FULL_PERSONALITY.instructions
    assert [(p.provider, p.model) for p in changed.providers] == [("openai", "gpt-4o-mini")]  # replaced whole
    assert changed.avoided_topics == FULL_PERSONALITY.avoided_topics
    # An empty mask replaces the personality as a whole.
    whole = (
        await bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(name=bot.name, personality=chatbot_pb2.Personality(greeting="Only")),
            metadata=md,
        )
    ).chatbot.personality
    assert whole == chatbot_pb2.Personality(greeting="Only")
    for path in ("greetings", "providers.temperature", "intent_examples.text"):
        await expect_error(
            bots.UpdatePersonality(
                chatbot_pb2.UpdatePersonalityRequest(name=bot.name, update_mask=mask(path)), metadata=md
            ),
            INVALID,
            fields={"update_mask"},
        )
    # A masked change is validated together with what it is merged into: TONE_CUSTOM needs a description.
    await expect_error(
        bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(
                name=bot.name,
                personality=chatbot_pb2.Personality(tone=chatbot_pb2.TONE_CUSTOM),
                update_mask=mask("tone"),
            ),
            metadata=md,
        ),
        INVALID,
        fields={"personality.tone_description"},
    )
    assert (await get_bot(bots, account, bot.name)).personality == whole


async def test_bad_personality_names_every_field(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("pers-bad")
    bot = await create_bot(bots, account)
    bad = chatbot_pb2.Personality(
        display_name="n" * 101,
        instructions="i" * 8001,
        tone=42,  # type: ignore[arg-type]
        language="not a language",
        greeting="g" * 501,
        fallback_answer="f" * 1001,
        handoff_text="h" * 1001,
        providers=[
            chatbot_pb2.ProviderPreference(provider="skynet"),
            chatbot_pb2.ProviderPreference(provider="openai", model="bad model!", temperature=2.5),
            chatbot_pb2.ProviderPreference(provider="gemini", temperature=-0.1),
            chatbot_pb2.ProviderPreference(provider="gemini", temperature=float("nan")),
        ],
        max_answer_tokens=5000,
        avoided_topics=["ok", "", "t" * 101],
        intent_examples=[
            ai_pb2.IntentExample(text="", intent=ai_pb2.INTENT_GREETING),
            ai_pb2.IntentExample(text="hello"),
        ],
    )
    await expect_error(
        bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(name=bot.name, personality=bad), metadata=account.metadata
        ),
        INVALID,
        "INVALID_FIELD",
        {
            "personality.display_name",
            "personality.instructions",
            "personality.tone",
            "personality.language",
            "personality.greeting",
            "personality.fallback_answer",
            "personality.handoff_text",
            "personality.providers[0].provider",
            "personality.providers[1].model",
            "personality.providers[1].temperature",
            "personality.providers[2].temperature",
            "personality.providers[3].temperature",
            "personality.max_answer_tokens",
            "personality.avoided_topics[1]",
            "personality.avoided_topics[2]",
            "personality.intent_examples[0].text",
            "personality.intent_examples[1].intent",
        },
    )
    too_many = chatbot_pb2.Personality(
        providers=[chatbot_pb2.ProviderPreference(provider="offline", model=f"m{i}") for i in range(6)],
        avoided_topics=["x"] * 51,
    )
    await expect_error(
        bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(name=bot.name, personality=too_many), metadata=account.metadata
        ),
        INVALID,
        fields={"personality.providers", "personality.avoided_topics"},
    )
    assert (await get_bot(bots, account, bot.name)).personality == chatbot_pb2.Personality()


async def test_update_placement_with_field_mask(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("place")
    md = account.metadata
    placement = chatbot_pb2.Placement()
    placement.CopyFrom(FULL_PLACEMENT)
    placement.business_hours.hide_outside_hours = True  # so that clearing it below changes something
    bot = await create_bot(bots, account, placement=placement)
    changed = (
        await bots.UpdatePlacement(
            chatbot_pb2.UpdatePlacementRequest(
                name=bot.name,
                placement=chatbot_pb2.Placement(
                    theme=chatbot_pb2.Theme(primary_color="#00AA00", text_color="#000000"),
                    allowed_domains=["Shop.Acme.Example.", "*.bücher.de:8443", "shop.acme.example"],
                    offset_x_px=499,
                ),
                update_mask=mask("theme.primary_color", "allowed_domains"),
            ),
            metadata=md,
        )
    ).chatbot.placement
    assert changed.theme.primary_color == "#00aa00"
    assert changed.theme.text_color == FULL_PLACEMENT.theme.text_color  # sibling kept
    assert changed.theme.background_color == FULL_PLACEMENT.theme.background_color
    assert list(changed.allowed_domains) == ["shop.acme.example", "*.bücher.de:8443"]  # canonical, de-duplicated
    assert changed.offset_x_px == FULL_PLACEMENT.offset_x_px
    assert changed.business_hours == placement.business_hours
    # Replacing a whole sub-message clears what the request leaves empty.
    cleared = (
        await bots.UpdatePlacement(
            chatbot_pb2.UpdatePlacementRequest(
                name=bot.name,
                placement=chatbot_pb2.Placement(theme=chatbot_pb2.Theme(primary_color="#123456")),
                update_mask=mask("theme", "business_hours.hide_outside_hours"),
            ),
            metadata=md,
        )
    ).chatbot.placement
    assert cleared.theme == chatbot_pb2.Theme(primary_color="#123456")
    assert not cleared.business_hours.hide_outside_hours
    assert cleared.business_hours.time_zone == "Europe/Berlin"
    await expect_error(
        bots.UpdatePlacement(
            chatbot_pb2.UpdatePlacementRequest(name=bot.name, update_mask=mask("theme.font")), metadata=md
        ),
        INVALID,
        fields={"update_mask"},
    )


async def test_bad_placement_names_every_field(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("place-bad")
    bot = await create_bot(bots, account, placement=FULL_PLACEMENT)
    bad = chatbot_pb2.Placement(
        allowed_domains=["ok.example", "https://acme.example", "*.com", "bad_host.example", "x.example:99999"],
        include_paths=["shop/**", "/" + "p" * 200],
        exclude_paths=["/a b", "/***"],
        position=9,  # type: ignore[arg-type]
        launcher_style=9,  # type: ignore[arg-type]
        offset_x_px=-1,
        offset_y_px=501,
        theme=chatbot_pb2.Theme(primary_color="red", background_color="#fff", text_color="#GGGGGG"),
        open_delay=duration_pb2.Duration(seconds=-5),
        business_hours=chatbot_pb2.BusinessHours(
            time_zone="Mars/Olympus_Mons",
            off_hours_message="m" * 501,
            windows=[
                chatbot_pb2.BusinessHoursWindow(start_time="09:00", end_time="17:00"),
                chatbot_pb2.BusinessHoursWindow(
                    day=chatbot_pb2.DAY_OF_WEEK_FRIDAY, start_time="9:00", end_time="25:00"
                ),
                chatbot_pb2.BusinessHoursWindow(
                    day=chatbot_pb2.DAY_OF_WEEK_FRIDAY, start_time="22:00", end_time="02:00"
                ),
            ],
        ),
    )
    await expect_error(
        bots.UpdatePlacement(
            chatbot_pb2.UpdatePlacementRequest(name=bot.name, placement=bad), metadata=account.metadata
        ),
        INVALID,
        "INVALID_FIELD",
        {
            "placement.allowed_domains[1]",
            "placement.allowed_domains[2]",
            "placement.allowed_domains[3]",
            "placement.allowed_domains[4]",
            "placement.include_paths[0]",
            "placement.include_paths[1]",
            "placement.exclude_paths[0]",
            "placement.exclude_paths[1]",
            "placement.position",
            "placement.launcher_style",
            "placement.offset_x_px",
            "placement.offset_y_px",
            "placement.theme.primary_color",
            "placement.theme.background_color",
            "placement.theme.text_color",
            "placement.open_delay",
            "placement.business_hours.time_zone",
            "placement.business_hours.off_hours_message",
            "placement.business_hours.windows[0].day",
            "placement.business_hours.windows[1].start_time",
            "placement.business_hours.windows[1].end_time",
            "placement.business_hours.windows[2].end_time",
        },
    )
    assert (await get_bot(bots, account, bot.name)).placement == FULL_PLACEMENT


async def test_bad_create_is_invalid_argument_never_internal(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("create-bad")
    await expect_error(
        bots.CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(
                parent=account.tenant,
                chatbot=chatbot_pb2.Chatbot(
                    display_name="\x00bad",
                    knowledge_bases=[f"{account.tenant}/knowledgeBases/{uuid.uuid4()}"] * 2,
                    personality=chatbot_pb2.Personality(max_answer_tokens=-1),
                    placement=chatbot_pb2.Placement(theme=chatbot_pb2.Theme(text_color="black")),
                ),
            ),
            metadata=account.metadata,
        ),
        INVALID,
        "INVALID_FIELD",
        {
            "chatbot.display_name",
            "chatbot.knowledge_bases[1]",
            "chatbot.personality.max_answer_tokens",
            "chatbot.placement.theme.text_color",
        },
    )
    await expect_error(create_bot(bots, account, avatar="not/an/avatar"), INVALID, "INVALID_FIELD", {"chatbot.avatar"})
    await expect_error(
        bots.CreateChatbot(chatbot_pb2.CreateChatbotRequest(parent=""), metadata=account.metadata),
        INVALID,
        fields={"parent"},
    )
    assert await chatbots_used(stack, account) == 0


async def test_concurrent_masked_updates_do_not_lose_each_other(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    import asyncio

    account = await stack.new_tenant("race")
    bot = await create_bot(bots, account)
    fields = {
        "display_name": "Ava",
        "greeting": "Hello",
        "fallback_answer": "No idea",
        "handoff_text": "Call us",
        "tone_description": "Calm",
        "language": "en-GB",
    }

    def change(path: str, value: str) -> chatbot_pb2.UpdatePersonalityRequest:
        request = chatbot_pb2.UpdatePersonalityRequest(name=bot.name, update_mask=mask(path))
        setattr(request.personality, path, value)
        return request

    await asyncio.gather(*(bots.UpdatePersonality(change(p, v), metadata=account.metadata) for p, v in fields.items()))
    personality = (await get_bot(bots, account, bot.name)).personality
    assert {path: getattr(personality, path) for path in fields} == fields
