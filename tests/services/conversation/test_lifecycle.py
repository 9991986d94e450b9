"""Lifecycle, pagination, idempotency, plan limits, bad input and domain events."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import grpc

from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.errors_assert import expect_error
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, eventually, kinds, send, start

if TYPE_CHECKING:
    Stub = conversation_pb2_grpc.ConversationServiceAsyncStub


async def test_end_conversation_refuses_later_messages_and_is_idempotent(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("life")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)
    await send(conversations, conversation.name, "Hello!", account.metadata)

    ended = await conversations.EndConversation(
        pb.EndConversationRequest(name=conversation.name), metadata=account.metadata
    )
    again = await conversations.EndConversation(
        pb.EndConversationRequest(name=conversation.name), metadata=account.metadata
    )

    assert ended.conversation.state == pb.CONVERSATION_STATE_ENDED
    assert ended.conversation.HasField("end_time")
    assert again.conversation.end_time == ended.conversation.end_time
    assert ended.conversation.message_count == 2
    await expect_error(
        send(conversations, conversation.name, "Still there?", account.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )


async def test_messages_and_visitor_conversations_page(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("page")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata, visitor_id="pager")
    older = await start(conversations, bot.name, account.metadata, visitor_id="pager")
    for text in ("Hello!", "Thanks!"):
        await send(conversations, conversation.name, text, account.metadata)

    first = await conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name, page_size=3), metadata=account.metadata
    )
    rest = await conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name, page_size=3, page_token=first.next_page_token),
        metadata=account.metadata,
    )
    assert len(first.messages) == 3
    assert len(rest.messages) == 1
    assert rest.next_page_token == ""
    assert [m.text for m in first.messages][::2] == ["Hello!", "Thanks!"]

    page = await conversations.ListVisitorConversations(
        pb.ListVisitorConversationsRequest(parent=bot.name, visitor_id="pager", page_size=1), metadata=account.metadata
    )
    last = await conversations.ListVisitorConversations(
        pb.ListVisitorConversationsRequest(
            parent=bot.name, visitor_id="pager", page_size=1, page_token=page.next_page_token
        ),
        metadata=account.metadata,
    )
    assert [c.name for c in page.conversations] == [older.name], "newest first"
    assert [c.name for c in last.conversations] == [conversation.name]
    await expect_error(
        conversations.ListMessages(
            pb.ListMessagesRequest(parent=older.name, page_token=first.next_page_token), metadata=account.metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {"page_token"},
    )


async def test_a_repeated_request_id_replays_the_stored_result(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("idem")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)

    first = await send(conversations, conversation.name, "Hello!", account.metadata, request_id="req-1")
    replay = await send(conversations, conversation.name, "Hello!", account.metadata, request_id="req-1")

    assert kinds(replay) == ["started", "message"]
    assert replay[0].started == first[0].started
    assert replay[-1].message == first[-1].message
    assert first[-1].message.request_id == "req-1"
    other = await start(conversations, bot.name, account.metadata, visitor_id="v-2")
    fresh = await send(conversations, other.name, "Hello!", account.metadata, request_id="req-1")
    assert "text_delta" in kinds(fresh), "a request id belongs to its own conversation"
    for _ in range(2):
        unnamed = await send(conversations, conversation.name, "Again?", account.metadata)
        assert "text_delta" in kinds(unnamed), "a message without a request id is never a replay"
    got = await conversations.GetConversation(
        pb.GetConversationRequest(name=conversation.name), metadata=account.metadata
    )
    assert got.conversation.message_count == 6


async def test_a_message_past_the_plan_limit_is_refused_and_not_stored(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("limit")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)
    await stack.use_up(account, tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH)

    error = await expect_error(
        send(conversations, conversation.name, "Hello!", account.metadata),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )

    assert "messages" in (error.details() or "").lower()
    listed = await conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
    )
    assert list(listed.messages) == []


async def test_messages_that_do_not_count_give_their_reservation_back(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("uncounted")
    bot = await create_bot(stack, account)
    ended = await start(conversations, bot.name, account.metadata)
    await conversations.EndConversation(pb.EndConversationRequest(name=ended.name), metadata=account.metadata)
    preview = (
        await conversations.CreateConversation(
            pb.CreateConversationRequest(
                parent=bot.name, conversation=pb.Conversation(visitor_id="owner", channel=pb.CHANNEL_PREVIEW)
            ),
            metadata=account.metadata,
        )
    ).conversation

    async def messages_used() -> int:
        return (await stack.usage(account, tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH)).used

    before = await messages_used()
    await expect_error(
        send(conversations, ended.name, "Still there?", account.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    await expect_error(
        send(conversations, f"{bot.name}/conversations/{uuid.uuid4()}", "Anyone?", account.metadata),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )
    previewed = await send(conversations, preview.name, "Hello!", account.metadata)

    assert kinds(previewed)[-1] == "message"
    # The conversation service keeps a unit reserved ahead for the tenant's next message; idle, it goes back too.
    used = await messages_used()
    for _ in range(100):
        if used == before:
            break
        await asyncio.sleep(0.05)
        used = await messages_used()
    assert used == before


async def test_a_preview_still_answers_when_the_plan_has_no_messages_left(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("previewlimit")
    bot = await create_bot(stack, account)
    preview = (
        await conversations.CreateConversation(
            pb.CreateConversationRequest(
                parent=bot.name, conversation=pb.Conversation(visitor_id="owner", channel=pb.CHANNEL_PREVIEW)
            ),
            metadata=account.metadata,
        )
    ).conversation
    await stack.use_up(account, tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH)

    previewed = await send(conversations, preview.name, "Hello!", account.metadata)

    assert kinds(previewed)[0] == "started"
    assert kinds(previewed)[-1] == "message"


async def test_bad_input_names_every_wrong_field(stack: Stack, conversations: Stub) -> None:
    account = await stack.new_tenant("bad")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    await expect_error(
        conversations.CreateConversation(
            pb.CreateConversationRequest(
                parent=bot.name, conversation=pb.Conversation(page_url="x" * 3000, metadata={"k": "v" * 600})
            ),
            metadata=account.metadata,
        ),
        invalid,
        "INVALID_FIELD",
        {"conversation.visitor_id", "conversation.page_url", "conversation.metadata[k]"},
    )
    await expect_error(
        send(conversations, conversation.name, " ", account.metadata, request_id="r" * 65),
        invalid,
        "INVALID_FIELD",
        {"text", "request_id"},
    )
    await expect_error(
        send(conversations, conversation.name, "x" * 4001, account.metadata), invalid, "INVALID_FIELD", {"text"}
    )
    await expect_error(
        conversations.ListMessages(
            pb.ListMessagesRequest(parent=conversation.name, page_size=-1), metadata=account.metadata
        ),
        invalid,
        "INVALID_FIELD",
        {"page_size"},
    )
    await expect_error(
        conversations.GetConversation(
            pb.GetConversationRequest(name="tenants/x/chatbots/y"), metadata=account.metadata
        ),
        invalid,
        "INVALID_FIELD",
        {"name"},
    )
    await expect_error(
        conversations.ListVisitorConversations(
            pb.ListVisitorConversationsRequest(parent=bot.name, visitor_id="a/b"), metadata=account.metadata
        ),
        invalid,
        "INVALID_FIELD",
        {"visitor_id"},
    )
    for name in ("", bot.name, f"{bot.name}/conversations/not-a-uuid", f"{conversation.name}/messages/x"):
        await expect_error(
            conversations.EndConversation(pb.EndConversationRequest(name=name), metadata=account.metadata),
            invalid,
            "INVALID_FIELD",
            {"name"},
        )


async def _relayed_events(settings: RuntimeSettings, tenant_id: uuid.UUID, count: int) -> list[tuple[str, str]]:
    """The tenant's outbox events (routing key, conversation) once `count` of them are all sent; fails after 10 s."""
    db = await Database.connect(settings, "conversation")
    try:

        async def relayed() -> list[tuple[str, str]] | None:
            async with db.platform_tx() as conn:
                rows = await conn.fetch(
                    "SELECT routing_key, payload->>'conversation' AS c, sent_time FROM conversation.outbox"
                    " WHERE tenant_id = $1 ORDER BY id",
                    tenant_id,
                )
            if len(rows) < count or any(r["sent_time"] is None for r in rows):
                return None
            return [(r["routing_key"], r["c"]) for r in rows]

        return await eventually(relayed, 10)
    finally:
        await db.close()


async def test_a_message_event_leaves_at_once_without_notify(
    stack: Stack, conversations: Stub, settings: RuntimeSettings
) -> None:
    # A message's append sends no NOTIFY (see outbox.event_ctes): the store wakes its process's relay instead. The
    # tests' relays poll once a minute, so only that wake-up sends the events within the wait.
    account = await stack.new_tenant("evw")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)
    await send(conversations, conversation.name, "Hello!", account.metadata)
    # The question's and the answer's.
    assert await _relayed_events(settings, account.tenant_id, 2) == [("message.created", conversation.name)] * 2


async def test_domain_events_leave_through_the_outbox(
    stack: Stack, conversations: Stub, settings: RuntimeSettings
) -> None:
    account = await stack.new_tenant("evt")
    bot = await create_bot(stack, account)
    conversation = await start(conversations, bot.name, account.metadata)
    await send(conversations, conversation.name, "Hello!", account.metadata)
    await conversations.EndConversation(pb.EndConversationRequest(name=conversation.name), metadata=account.metadata)
    events = await _relayed_events(settings, account.tenant_id, 3)
    assert events == [
        ("message.created", conversation.name),
        ("message.created", conversation.name),
        ("conversation.ended", conversation.name),
    ]
