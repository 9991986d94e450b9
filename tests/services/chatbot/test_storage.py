"""Below the API: row-level security on chatbots and the platform-wide embed-id directory."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.runtime.db import Database
from tests.services.chatbot.conftest import create_bot
from tests.services.conftest import Stack


async def test_chatbot_rows_are_tenant_scoped_without_a_where_clause(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, chatbot_db: Database
) -> None:
    a = await stack.new_tenant("rls-bot-a")
    b = await stack.new_tenant("rls-bot-b")
    bot_a = await create_bot(bots, a)
    bot_b = await create_bot(bots, b)
    id_a = uuid.UUID(bot_a.name.rsplit("/", 1)[1])
    async with chatbot_db.tenant_tx(a.tenant_id) as conn:
        seen = {r["id"] for r in await conn.fetch("SELECT id FROM chatbot.chatbots")}
        own_links = {r["embed_id"] for r in await conn.fetch("SELECT embed_id FROM chatbot.embed_ids")}
        # Writes aimed at another tenant's rows match nothing.
        await conn.execute("UPDATE chatbot.chatbots SET display_name = 'x' WHERE embed_id = $1", bot_b.embed_id)
    assert seen == {id_a}
    assert own_links == {bot_a.embed_id}
    async with chatbot_db.tenant_tx(b.tenant_id) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO chatbot.chatbots (id, tenant_id, display_name, state, embed_id) "
                "VALUES ($1, $2, 'planted', 'active', 'emb_planted')",
                uuid.uuid4(),
                a.tenant_id,
            )
    # Without a tenant, chatbots are invisible; only the id-only directory answers (public embed lookups).
    async with chatbot_db.platform_tx() as conn:
        assert await conn.fetchval("SELECT count(*) FROM chatbot.chatbots") == 0
        link = await conn.fetchrow(
            "SELECT tenant_id, chatbot_id FROM chatbot.embed_ids WHERE embed_id = $1", bot_a.embed_id
        )
    assert link is not None
    assert (link["tenant_id"], link["chatbot_id"]) == (a.tenant_id, id_a)
    renamed = await bots.GetChatbot(chatbot_pb2.GetChatbotRequest(name=bot_b.name), metadata=b.metadata)
    assert renamed.chatbot.display_name != "x"


async def test_the_chatbot_role_cannot_read_other_schemas(stack: Stack, chatbot_db: Database) -> None:
    account = await stack.new_tenant("rls-bot-c")
    async with chatbot_db.tenant_tx(account.tenant_id) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM tenant.tenants")


async def test_deleting_and_rotating_clean_the_directory(
    stack: Stack, bots: chatbot_pb2_grpc.ChatbotServiceAsyncStub, chatbot_db: Database
) -> None:
    account = await stack.new_tenant("rls-bot-d")
    bot = await create_bot(bots, account)
    rotated = (
        await bots.RotateEmbedId(chatbot_pb2.RotateEmbedIdRequest(name=bot.name), metadata=account.metadata)
    ).chatbot
    async with chatbot_db.platform_tx() as conn:
        links = {
            r["embed_id"]
            for r in await conn.fetch("SELECT embed_id FROM chatbot.embed_ids WHERE tenant_id = $1", account.tenant_id)
        }
    assert links == {rotated.embed_id}
    await bots.DeleteChatbot(chatbot_pb2.DeleteChatbotRequest(name=bot.name), metadata=account.metadata)
    async with chatbot_db.platform_tx() as conn:
        left = await conn.fetchval("SELECT count(*) FROM chatbot.embed_ids WHERE tenant_id = $1", account.tenant_id)
    assert left == 0
