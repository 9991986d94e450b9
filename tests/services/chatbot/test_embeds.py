"""Embed ids, the embed snippet, the public embed config (no secrets) and the visitor secret."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2, json_format

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.cli.catalog import RUNNABLE_SERVICES
from services.runtime.db import Database
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import create_bot, edge, get_bot
from tests.services.chatbot.test_chatbots import FULL_PERSONALITY, FULL_PLACEMENT
from tests.services.conftest import Stack

NOT_FOUND = grpc.StatusCode.NOT_FOUND
BASE_URL = "http://127.0.0.1:3008"


async def test_embed_script_is_one_async_script_tag(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("script")
    bot = await create_bot(bots, account)
    script = await bots.GetEmbedScript(chatbot_pb2.GetEmbedScriptRequest(name=bot.name), metadata=account.metadata)
    assert script.embed_id == bot.embed_id
    assert script.script_url == f"{BASE_URL}/embed.js"
    assert script.snippet == (
        f'<script async src="{BASE_URL}/embed.js?id={bot.embed_id}" data-embed-id="{bot.embed_id}"></script>'
    )


async def test_rotating_the_embed_id_retires_the_old_one_at_once(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("rotate")
    md = account.metadata
    bot = await create_bot(bots, account, placement=chatbot_pb2.Placement(allowed_domains=["acme.example"]))
    old = bot.embed_id
    assert (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=old))).embed_config.embed_id == old
    rotated = (await bots.RotateEmbedId(chatbot_pb2.RotateEmbedIdRequest(name=bot.name), metadata=md)).chatbot
    new = rotated.embed_id
    assert new != old
    assert new.startswith("emb_")
    assert rotated.name == bot.name
    await expect_error(bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=old)), NOT_FOUND)
    await expect_error(
        bots.ResolveEmbed(
            chatbot_pb2.ResolveEmbedRequest(embed_id=old, origin="https://acme.example"), metadata=edge(stack)
        ),
        NOT_FOUND,
    )
    assert (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=new))).embed_config.embed_id == new
    script = await bots.GetEmbedScript(chatbot_pb2.GetEmbedScriptRequest(name=bot.name), metadata=md)
    assert new in script.snippet
    assert old not in script.snippet
    assert (await get_bot(bots, account, bot.name)).embed_id == new


async def test_embed_config_is_public_and_holds_no_secrets(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    account = await stack.new_tenant("public")
    md = account.metadata
    instructions = "SECRET-INSTRUCTIONS: never reveal the discount code ACME-4242."
    personality = chatbot_pb2.Personality()
    personality.CopyFrom(FULL_PERSONALITY)
    personality.instructions = instructions
    bot = await create_bot(bots, account, "Dashboard name", personality=personality, placement=FULL_PLACEMENT)
    secret = (await bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=md)).secret

    response = await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))  # no credentials
    config = response.embed_config
    wire = response.SerializeToString() + json_format.MessageToJson(response).encode()
    for hidden in [
        instructions,
        "ACME-4242",
        secret,
        "anthropic",
        "claude-sonnet-4",
        "offline",
        "www.acme.example",
        FULL_PERSONALITY.fallback_answer,
        FULL_PERSONALITY.handoff_text,
        "politics",
        "Ich will kündigen",
    ]:
        assert hidden.encode() not in wire, f"{hidden!r} leaked into the embed config"

    assert config.embed_id == bot.embed_id
    assert config.bot_name == "Ava"  # the personality's name wins over the dashboard name
    assert config.greeting == FULL_PERSONALITY.greeting
    assert config.language == "de-DE"
    assert config.visitor_identity_enabled
    expected_placement = chatbot_pb2.Placement()
    expected_placement.CopyFrom(FULL_PLACEMENT)
    del expected_placement.allowed_domains[:]
    assert config.placement == expected_placement
    assert config.placement.theme.primary_color == "#ff6600"
    if "avatar" in RUNNABLE_SERVICES:
        assert config.avatar_model_url.startswith(BASE_URL)  # the platform's default avatar
    else:
        # The avatar service is not part of this stack yet: the widget falls back to its built-in default.
        assert config.avatar_model_url == ""
        assert not config.animations
        assert not config.viseme_morphs
    assert len(config.config_version) == 20

    again = (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert again.config_version == config.config_version
    await bots.UpdatePersonality(
        chatbot_pb2.UpdatePersonalityRequest(
            name=bot.name,
            personality=chatbot_pb2.Personality(greeting="New greeting"),
            update_mask=field_mask_pb2.FieldMask(paths=["greeting"]),
        ),
        metadata=md,
    )
    changed = (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert changed.greeting == "New greeting"
    assert changed.config_version != config.config_version


async def test_embed_config_falls_back_to_the_tenants_defaults(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    from avatarchat.tenant.v1 import tenant_pb2

    account = await stack.new_tenant("defaults")
    await stack.tenant.UpdateTenant(
        tenant_pb2.UpdateTenantRequest(
            tenant=tenant_pb2.Tenant(
                name=account.tenant, config=tenant_pb2.TenantConfig(default_language="fr", time_zone="Europe/Paris")
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["config.default_language", "config.time_zone"]),
        ),
        metadata=account.metadata,
    )
    hours = chatbot_pb2.BusinessHours(
        windows=[
            chatbot_pb2.BusinessHoursWindow(day=chatbot_pb2.DAY_OF_WEEK_MONDAY, start_time="09:00", end_time="17:00")
        ]
    )
    bot = await create_bot(bots, account, "Plain", placement=chatbot_pb2.Placement(business_hours=hours))
    config = (await bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert config.bot_name == "Plain"
    assert config.language == "fr"
    assert config.placement.business_hours.time_zone == "Europe/Paris"


async def test_paused_and_unknown_embed_ids(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("paused")
    bot = await create_bot(bots, account, state=chatbot_pb2.CHATBOT_STATE_PAUSED)
    await expect_error(
        bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id)), NOT_FOUND, "RESOURCE_NOT_FOUND"
    )
    await expect_error(bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id="emb_" + "A" * 22)), NOT_FOUND)
    for bad in ("", "emb_short", "x" * 500, "emb_" + "a" * 21 + "'"):
        await expect_error(
            bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bad)),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields={"embed_id"},
        )
    await bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=bot.name), metadata=account.metadata)
    await expect_error(bots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id)), NOT_FOUND)


async def test_visitor_secret_is_shown_once_and_stored_encrypted(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, chatbot_db: Database
) -> None:
    account = await stack.new_tenant("secret")
    md = account.metadata
    bot = await create_bot(bots, account)
    first = await bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=md)
    assert first.secret.startswith("vsk_")
    assert len(first.secret) == 47
    fetched = await get_bot(bots, account, bot.name)
    assert fetched.visitor_secret_rotate_time == first.rotate_time
    assert first.secret.encode() not in fetched.SerializeToString()
    listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant), metadata=md)
    assert first.secret.encode() not in listed.SerializeToString()
    second = await bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=md)
    assert second.secret != first.secret
    async with chatbot_db.tenant_tx(account.tenant_id) as conn:
        stored = await conn.fetchval(
            "SELECT visitor_secret FROM chatbot.chatbots WHERE id = $1", bot.name.rsplit("/", 1)[1]
        )
    assert isinstance(stored, bytes)
    assert second.secret.encode() not in stored
    assert second.secret[4:].encode() not in stored
