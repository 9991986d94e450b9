"""Answers from real SDKs against local OpenAI/Anthropic wire servers: cost, failover, breaks, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.settings import RuntimeSettings
from tests.errors_assert import expect_error
from tests.services.ai.wire import Exchange, Handler, Responder
from tests.services.ai.wire_formats import anthropic_stream, openai_error, openai_stream
from tests.services.conftest import Account, Stack
from tests.services.conversation.helpers import create_bot, eventually, kinds, seed_knowledge, send, start, text_of
from tests.services.conversation.platform_env import (
    PLATFORM_KEY,
    LocalPlatform,
    conversation_replica,
    start_local_platform,
    stop_local_platform,
)

QUESTION = "When does the shop open on Saturdays?"
#: Seconds the `patient` platform's SDKs wait for the next byte of a provider stream.
PATIENT_READ_TIMEOUT = 60.0


async def bot_with(stack: Stack, local: LocalPlatform, account: Account, *providers: str) -> str:
    """A bot over the hours knowledge that prefers `providers` in order (the offline one is always last)."""
    prefs = [chatbot_pb2.ProviderPreference(provider=p) for p in providers]
    kb = seed_knowledge(local.knowledge, account)
    bot = await create_bot(stack, account, knowledge_bases=[kb], personality=chatbot_pb2.Personality(providers=prefs))
    return bot.name


async def test_openai_answers_over_its_wire_format_and_the_answer_is_priced(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(
        ["We open ", "at 10am ", "on Saturdays [1]."], prompt_tokens=50, completion_tokens=7
    )
    conversation = await start(local.conversations, bot, account.metadata)

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert text_of(events) == "We open at 10am on Saturdays [1]."
    assert "citation" in kinds(events)
    stored = events[-1].message
    assert (stored.provider, stored.input_tokens, stored.output_tokens) == ("openai", 50, 7)
    assert stored.model == "gpt-4.1-mini-2025-04-14", "the snapshot the wire server reported, not the one asked for"
    # gpt-4.1-mini: $0.40 in and $1.60 out per million tokens.
    assert stored.cost_micros == round((50 * 400_000 + 7 * 1_600_000) / 1_000_000)
    request = local.gateway.exchanges("openai")[-1]
    assert request.headers["authorization"] == f"Bearer {PLATFORM_KEY}"
    body = request.json()
    assert body["stream"] is True
    assert "10am on Saturdays" in body["messages"][0]["content"], "the knowledge passage is in the prompt"


async def test_a_provider_failing_before_the_first_token_fails_over(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai", "anthropic")
    local.gateway.routes["openai"] = openai_error(500, "The server had an error", "server_error")
    local.gateway.routes["anthropic"] = anthropic_stream(
        ["Saturdays ", "from 10am [1]."], input_tokens=31, output_tokens=5
    )
    conversation = await start(local.conversations, bot, account.metadata)

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert text_of(events) == "Saturdays from 10am [1]."
    assert events[-1].message.provider == "anthropic"
    assert events[-1].message.state == pb.MESSAGE_STATE_COMPLETE


async def test_a_message_past_the_plan_limit_never_reaches_a_provider(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire-limit")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["We open ", "at 10am [1]."], prompt_tokens=9, completion_tokens=4)
    conversation = await start(local.conversations, bot, account.metadata)
    await stack.use_up(account, tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH)
    before = len(local.gateway.exchanges("openai"))

    await expect_error(
        send(local.conversations, conversation.name, QUESTION, account.metadata),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )

    await asyncio.sleep(0.5)  # an answer started regardless would have reached the provider by now
    assert len(local.gateway.exchanges("openai")) == before


async def test_every_provider_failing_falls_back_to_the_offline_one(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_error(
        401, "Incorrect API key provided: sk-pla*****6789", "invalid_request_error"
    )
    conversation = await start(local.conversations, bot, account.metadata)

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert events[-1].message.provider == "offline"
    assert "10am" in events[-1].message.text


async def test_a_malformed_event_before_any_text_fails_over(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["never sent"], break_after=0)
    conversation = await start(local.conversations, bot, account.metadata)

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert events[-1].message.provider == "offline"


async def test_a_slow_first_token_fails_over_after_the_timeout(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")

    async def stalls(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        await asyncio.sleep(10)

    local.gateway.routes["openai"] = stalls
    conversation = await start(local.conversations, bot, account.metadata)

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert events[-1].message.provider == "offline"
    assert await eventually(lambda: _closed(local.gateway.exchanges("openai")[-1]))


async def test_a_break_after_the_first_token_ends_with_an_error_and_keeps_the_partial_answer(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai", "anthropic")
    local.gateway.routes["openai"] = openai_stream(["We open ", "at 10am ", "never"], error_after=2)
    conversation = await start(local.conversations, bot, account.metadata)
    before = len(local.gateway.exchanges("anthropic"))

    events = await send(local.conversations, conversation.name, QUESTION, account.metadata)

    assert kinds(events)[-1] == "error"
    error = events[-1].error
    assert error.partial_text == "We open at 10am "
    assert error.code == "UNAVAILABLE"
    assert len(local.gateway.exchanges("anthropic")) == before, "no failover once text reached the visitor"
    listed = await local.conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
    )
    answer = listed.messages[-1]
    assert answer.name == events[0].started.assistant_message
    assert (answer.state, answer.text, answer.provider) == (pb.MESSAGE_STATE_INCOMPLETE, "We open at 10am ", "")


async def test_a_slow_stream_relays_each_chunk_as_it_arrives(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["one ", "two ", "three"], pace=0.3)
    conversation = await start(local.conversations, bot, account.metadata)
    call = local.conversations.SendMessage(
        pb.SendMessageRequest(name=conversation.name, text=QUESTION), metadata=account.metadata
    )
    arrivals: list[float] = []
    loop = asyncio.get_running_loop()
    async for event in call:
        if event.WhichOneof("event") == "text_delta":
            arrivals.append(loop.time())
    assert len(arrivals) == 3
    assert arrivals[1] - arrivals[0] > 0.2, "no buffering: chunks arrive at the provider's pace"


@pytest.fixture
async def patient(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[LocalPlatform]:
    """A local platform whose provider read timeout outlasts every wait of a test."""
    # The shared platform's 3 s first-token timeout is also the SDK's read timeout, which would close a held
    # provider stream by itself; here only a cancelled call can close one within a test's wait.
    platform = await start_local_platform(settings, ai_first_token_timeout_seconds=PATIENT_READ_TIMEOUT)
    yield platform
    await stop_local_platform(platform)


async def test_a_client_cancelling_closes_the_provider_stream_and_the_partial_answer_is_stored(
    stack: Stack, patient: LocalPlatform
) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, patient, account, "openai")
    gate = asyncio.Event()
    patient.gateway.routes["openai"] = openai_stream(["Hello ", "there"], gate=gate)
    conversation = await start(patient.conversations, bot, account.metadata)
    call = patient.conversations.SendMessage(
        pb.SendMessageRequest(name=conversation.name, text=QUESTION), metadata=account.metadata
    )
    async for event in call:
        if event.WhichOneof("event") == "text_delta":
            break
    call.cancel()

    exchange = patient.gateway.exchanges("openai")[-1]
    # Far below the read timeout: a provider stream left open would still be open when this gives up.
    await eventually(lambda: _closed(exchange), PATIENT_READ_TIMEOUT / 6)
    gate.set()

    async def stored() -> pb.Message | None:
        listed = await patient.conversations.ListMessages(
            pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
        )
        return listed.messages[-1] if len(listed.messages) == 2 else None

    answer = await eventually(stored)
    assert (answer.state, answer.text) == (pb.MESSAGE_STATE_INCOMPLETE, "Hello ")


async def test_a_repeated_question_is_answered_from_the_cache_and_still_streams(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["We open ", "at 10am ", "on Saturdays [1]."], prompt_tokens=50)
    first = await start(local.conversations, bot, account.metadata)
    second = await start(local.conversations, bot, account.metadata, visitor_id="v-2")

    fresh = await send(local.conversations, first.name, QUESTION, account.metadata)
    calls = len(local.gateway.exchanges("openai"))
    cached = await send(local.conversations, second.name, "  when does the shop open on saturdays ", account.metadata)

    assert len(local.gateway.exchanges("openai")) == calls, "no provider call for a cached answer"
    assert text_of(cached) == text_of(fresh)
    assert kinds(cached).count("text_delta") > 1
    assert "citation" in kinds(cached)
    assert "viseme_cues" in kinds(cached)
    message = cached[-1].message
    assert message.cached
    assert message.cost_micros == 0
    assert [c.document for c in message.citations] == [c.document for c in fresh[-1].message.citations]


async def test_the_cache_key_changes_when_the_knowledge_changes(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["Ten [1]."])
    kb = next(iter(k for k in local.knowledge.chunks if k.startswith(account.tenant)))
    conversation = await start(local.conversations, bot, account.metadata)
    await send(local.conversations, conversation.name, QUESTION, account.metadata)
    calls = len(local.gateway.exchanges("openai"))

    local.knowledge.versions[kb] = 2
    other = await start(local.conversations, bot, account.metadata, visitor_id="v-3")
    again = await send(local.conversations, other.name, QUESTION, account.metadata)

    assert len(local.gateway.exchanges("openai")) == calls + 1
    assert not again[-1].message.cached


async def _closed(exchange: Exchange) -> bool | None:
    return True if exchange.closed_by_client.is_set() else None


async def test_the_provider_sees_the_latest_turns_oldest_first_within_the_window(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("wire")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = openai_stream(["Noted."])
    conversation = await start(local.conversations, bot, account.metadata)

    for n in range(1, 13):
        events = await send(local.conversations, conversation.name, f"Question {n}?", account.metadata)
        assert text_of(events) == "Noted."

    sent = local.gateway.exchanges("openai")[-1].json()["messages"]
    # Twenty earlier messages (the service's window) before the new question: questions 2 to 11 and their answers.
    turns = [(m["role"], m["content"]) for m in sent[1:]]
    expected = [pair for n in range(2, 12) for pair in (("user", f"Question {n}?"), ("assistant", "Noted."))]
    assert turns == [*expected, ("user", "Question 12?")]


def questions_seen() -> Handler:
    """Answers with the visitor's messages the provider was sent, in order: the answer shows the history it had."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        asked = [m["content"] for m in exchange.json()["messages"] if m["role"] == "user"]
        await openai_stream([" | ".join(asked)])(exchange, respond)

    return handle


async def test_a_conversation_another_process_wrote_to_is_answered_from_what_is_stored(
    stack: Stack, local: LocalPlatform
) -> None:
    account = await stack.new_tenant("replica")
    bot = await bot_with(stack, local, account, "openai")
    local.gateway.routes["openai"] = questions_seen()
    conversation = await start(local.conversations, bot, account.metadata)
    first = await send(local.conversations, conversation.name, "One?", account.metadata)
    assert text_of(first) == "One?"

    async with conversation_replica(local) as replica:
        # The first process holds the conversation at two messages; the replica adds two more.
        two = await send(replica, conversation.name, "Two?", account.metadata, request_id="two")
        assert text_of(two) == "One? | Two?"
        third = await send(local.conversations, conversation.name, "Three?", account.metadata)
        assert text_of(third) == "One? | Two? | Three?"
        assert third[-1].message.state == pb.MESSAGE_STATE_COMPLETE
        fourth = await send(local.conversations, conversation.name, "Four?", account.metadata)
        assert text_of(fourth) == "One? | Two? | Three? | Four?"
        # A retry the first process has not seen is found taken when stored, and replayed without being counted.
        retried = await send(local.conversations, conversation.name, "Two?", account.metadata, request_id="two")
        assert kinds(retried) == ["started", "message"]
        assert retried[-1].message.name == two[-1].message.name

        ended = await replica.EndConversation(
            pb.EndConversationRequest(name=conversation.name), metadata=account.metadata
        )
        assert ended.conversation.message_count == 8
        await expect_error(
            send(local.conversations, conversation.name, "Five?", account.metadata),
            grpc.StatusCode.FAILED_PRECONDITION,
            "FAILED_PRECONDITION",
        )

    stored = await local.conversations.ListMessages(
        pb.ListMessagesRequest(parent=conversation.name), metadata=account.metadata
    )
    assert [m.text for m in stored.messages if m.role == pb.MESSAGE_ROLE_VISITOR] == ["One?", "Two?", "Three?", "Four?"]
    assert len(stored.messages) == 8
