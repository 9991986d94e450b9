"""API keys against ChatbotService: the contract's api_key_scope decides, and tenants stay apart."""

from __future__ import annotations

import grpc

from avatarchat.auth.v1 import auth_pb2
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from tests.errors_assert import expect_error
from tests.services.chatbot.conftest import Metadata, create_bot
from tests.services.conftest import Account, Stack

DENIED = grpc.StatusCode.PERMISSION_DENIED


async def _api_key(stack: Stack, account: Account, *scopes: str) -> Metadata:
    created = await stack.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            parent=account.tenant, api_key=auth_pb2.ApiKey(display_name="integration", scopes=list(scopes))
        ),
        metadata=account.metadata,
    )
    return (("authorization", f"Bearer {created.secret}"),)


async def test_read_scope_lists_but_cannot_create(stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub) -> None:
    account = await stack.new_tenant("apikey")
    bot = await create_bot(bots, account)
    reader = await _api_key(stack, account, "chatbots.read")
    listed = await bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant), metadata=reader)
    assert [c.name for c in listed.chatbots] == [bot.name]
    fetched = await bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=bot.name), metadata=reader)
    assert fetched.chatbot.embed_id == bot.embed_id
    script = await bots.GetEmbedScript(chatbot_pb2.GetEmbedScriptRequest(name=bot.name), metadata=reader)
    assert bot.embed_id in script.snippet
    await expect_error(
        bots.CreateChatbot(
            chatbot_pb2.CreateChatbotRequest(parent=account.tenant, chatbot=chatbot_pb2.Chatbot(display_name="No")),
            metadata=reader,
        ),
        DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=bot.name), metadata=reader), DENIED)
    await expect_error(
        bots.RotateVisitorSecret(chatbot_pb2.RotateVisitorSecretRequest(name=bot.name), metadata=reader), DENIED
    )
    await expect_error(
        bots.ResolveEmbed(chatbot_pb2.ResolveEmbedRequest(embed_id=bot.embed_id), metadata=reader), DENIED
    )

    writer = await _api_key(stack, account, "chatbots.write")
    created = await bots.CreateChatbot(
        chatbot_pb2.CreateChatbotRequest(parent=account.tenant, chatbot=chatbot_pb2.Chatbot(display_name="Yes")),
        metadata=writer,
    )
    assert created.chatbot.display_name == "Yes"
    await expect_error(
        bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=account.tenant), metadata=writer), DENIED
    )


async def test_an_api_key_sees_only_its_own_tenant(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub
) -> None:
    a = await stack.new_tenant("apikey-a")
    b = await stack.new_tenant("apikey-b")
    bot = await create_bot(bots, a)
    b_reader = await _api_key(stack, b, "chatbots.read", "chatbots.write")
    await expect_error(
        bots.ListChatbots(chatbot_pb2.ListChatbotsRequest(parent=a.tenant), metadata=b_reader),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=bot.name), metadata=b_reader), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(
        bots.RotateEmbedId(chatbot_pb2.RotateEmbedIdRequest(name=bot.name), metadata=b_reader),
        grpc.StatusCode.NOT_FOUND,
    )
