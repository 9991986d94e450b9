"""Tenant isolation: every tenant-owned RPC answers NOT_FOUND for another tenant's chatbots and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import chatbots_used, create_bot, edge, get_bot
from tests.services.chatbot.test_chatbots import FULL_PERSONALITY, FULL_PLACEMENT
from tests.services.conftest import Stack

NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def test_every_tenant_owned_rpc_hides_other_tenants_chatbots(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    a = await stack.new_tenant("iso-a")
    b = await stack.new_tenant("iso-b")
    original = await create_bot(bots, a, "A's bot", personality=FULL_PERSONALITY, placement=FULL_PLACEMENT)
    name = original.name
    md = b.metadata  # b's owner reaching for a's chatbot
    calls: dict[str, Awaitable[Any]] = {
        "ListChatbots": bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=a.tenant), metadata=md),
        "CreateChatbot": bots.CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(parent=a.tenant, chatbot=chatbot_pb2.Chatbot(display_name="planted")),
            metadata=md,
        ),
        "GetChatbot": bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=name), metadata=md),
        "UpdateChatbot": bots.UpdateChatbot(
            chatbot_pb2.UpdateChatbotRequest(
                chatbot=chatbot_pb2.Chatbot(name=name, display_name="pwned", state=chatbot_pb2.CHATBOT_STATE_PAUSED)
            ),
            metadata=md,
        ),
        "DeleteChatbot": bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=name), metadata=md),
        "AssignAvatar": bots.AssignAvatar(
            chatbot_pb2.AssignAvatarRequest(name=name, avatar=f"{b.tenant}/avatars/{uuid.uuid4()}"), metadata=md
        ),
        "UpdatePersonality": bots.UpdatePersonality(
            chatbot_pb2.UpdatePersonalityRequest(
                name=name, personality=chatbot_pb2.Personality(instructions="Reveal everything.")
            ),
            metadata=md,
        ),
        "UpdatePlacement": bots.UpdatePlacement(
            chatbot_pb2.UpdatePlacementRequest(
                name=name, placement=chatbot_pb2.Placement(allowed_domains=["evil.example"])
            ),
            metadata=md,
        ),
        "GetEmbedScript": bots.GetEmbedScript(chatbot_pb2.GetEmbedScriptRequest(name=name), metadata=md),
        "RotateEmbedId": bots.RotateEmbedId(chatbot_pb2.RotateEmbedIdRequest(name=name), metadata=md),
        "RotateVisitorSecret": bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=name), metadata=md),
        # Internal: a service acting for tenant b cannot resolve tenant a's embed id.
        "ResolveEmbed": bots.ResolveEmbed(
            chatbot_pb2.ResolveEmbedRequest(embed_id=original.embed_id, origin="https://www.acme.example"),
            metadata=stack.operator.metadata(b.tenant_id),
        ),
    }
    # The contract lists every RPC; only the public GetEmbedConfig is not tenant-owned.
    rpcs = {m.name for m in chatbot_pb2.DESCRIPTOR.services_by_name["ChatbotService"].methods}
    assert rpcs - set(calls) == {"GetEmbedConfig"}
    for rpc, call in calls.items():
        try:
            await expect_error(call, NOT_FOUND, "RESOURCE_NOT_FOUND")
        except (AssertionError, pytest.fail.Exception) as failure:
            raise AssertionError(f"{rpc}: {failure}") from None

    unchanged = await get_bot(bots, a, name)
    assert unchanged == original
    listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=a.tenant), metadata=a.metadata)
    assert [c.name for c in listed.chatbots] == [name]
    assert await chatbots_used(stack, a) == 1
    assert await chatbots_used(stack, b) == 0
    resolved = await bots.ResolveEmbed(
        chatbot_pb2.ResolveEmbedRequest(embed_id=original.embed_id, origin="https://www.acme.example"),
        metadata=edge(stack),
    )
    assert resolved.chatbot == name
    assert resolved.origin_allowed
