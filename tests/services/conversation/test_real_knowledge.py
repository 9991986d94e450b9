"""The chat path over the real knowledge service: an ingested document is retrieved, cited and stored."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from avatarchat.chatbot.v1 import chatbot_pb2
from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.cli.seed import DEMO_BOT_NAME, DEMO_FAQ, DEMO_GREETING, DEMO_KNOWLEDGE_BASE
from services.knowledge import server as knowledge_server
from services.knowledge import worker
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, kinds, send, start, text_of
from tests.services.knowledge import service_env

GRPCURL = Path(sys.executable).with_name("grpcurl")
HOURS_DOC = (
    "Opening hours\n\n"
    "The Riverside store opens at 9am on weekdays. On Saturdays the store opens at 10am and closes at 4pm. "
    "The store is closed on Sundays and public holidays.\n\n"
    "Returns\n\nItems can be returned within 30 days with the receipt."
)


@pytest.fixture(scope="module")
async def ingestion(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[service_env.Knowledge]:
    """A knowledge host and ingestion worker on their own queues; documents land in the shared database."""
    own = service_env.knowledge_settings(settings)
    host = await knowledge_server.build(own, port=free_port())
    await host.start()
    ingest = worker.IngestWorker(own)
    await ingest.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port}")
    yield service_env.Knowledge(knowledge_pb2_grpc.KnowledgeServiceStub(channel), own)
    await channel.close()
    await ingest.stop()
    await host.stop(0.5)
    await service_env.delete_topology(own)


async def test_a_conversation_cites_the_ingested_document_it_answered_from(
    stack: Stack, ingestion: service_env.Knowledge
) -> None:
    knowledge = ingestion
    account = await stack.new_tenant("rk")
    kb = await knowledge.new_kb(account)
    doc = await knowledge.upload(account, kb.name, HOURS_DOC.encode(), "text/plain", "hours.txt", title="Store hours")
    ready = await knowledge.wait(account, doc.name)
    assert ready.state == knowledge_pb2.DOCUMENT_STATE_READY, ready.failure_reason
    bot = await create_bot(stack, account, knowledge_bases=[kb.name])
    conversations = conversation_pb2_grpc.ConversationServiceStub(stack.channel("conversation"))
    conversation = await start(conversations, bot.name, account.metadata)

    events = await send(conversations, conversation.name, "When does the store open on Saturdays?", account.metadata)

    assert {"started", "text_delta", "citation", "animation_cue", "viseme_cues", "message"} <= set(kinds(events))
    assert "10am" in text_of(events)
    stored = events[-1].message
    assert stored.state == pb.MESSAGE_STATE_COMPLETE
    assert [c.document for c in stored.citations] == [doc.name]
    assert stored.output_tokens > 0
    assert stored.HasField("first_token_latency")


async def _grpcurl(stack: Stack, method: str, body: dict[str, Any], metadata: tuple[tuple[str, str], ...]) -> list[Any]:
    """The messages grpcurl prints (proto field names) for one call of a conversation RPC it finds by reflection."""
    headers = [arg for key, value in metadata for arg in ("-H", f"{key}: {value}")]
    # Asynchronous: the services under test run on this event loop.
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-plaintext",
        "-emit-defaults",
        *headers,
        "-d",
        json.dumps(body),
        stack.settings.address_of("conversation"),
        f"avatarchat.conversation.v1.ConversationService/{method}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    decoder, text, messages = json.JSONDecoder(), out.decode(), []
    at = 0
    while text[at:].strip():
        message, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        messages.append(message)
    return messages


async def test_grpcurl_streams_the_seeded_bots_cited_answer_with_cues_visemes_and_costs(
    stack: Stack, ingestion: service_env.Knowledge
) -> None:
    knowledge = ingestion
    account = await stack.new_tenant("gc")
    # What `avatarchat seed` gives the demo tenant (FAQ, bot, greeting), in a fresh tenant: other tests seed `demo`
    # in this database without an ingestion worker, and the seed keeps a bot it finds.
    kb = await knowledge.new_kb(account, DEMO_KNOWLEDGE_BASE)
    doc = await knowledge.upload(account, kb.name, DEMO_FAQ.encode(), "text/markdown", "faq.md", title="avatarchat FAQ")
    ready = await knowledge.wait(account, doc.name)
    assert ready.state == knowledge_pb2.DOCUMENT_STATE_READY, ready.failure_reason
    bot = await create_bot(
        stack,
        account,
        display_name=DEMO_BOT_NAME,
        knowledge_bases=[kb.name],
        personality=chatbot_pb2.Personality(greeting=DEMO_GREETING),
    )

    [created] = await _grpcurl(
        stack, "CreateConversation", {"parent": bot.name, "conversation": {"visitor_id": "v-curl"}}, account.metadata
    )
    conversation = created["conversation"]["name"]
    question = "Where do answers come from?"
    events = await _grpcurl(stack, "SendMessage", {"name": conversation, "text": question}, account.metadata)

    order = [next(iter(event)) for event in events]
    assert order[0] == "started"
    assert order[-1] == "message"
    assert order.count("text_delta") > 1, "the answer streams in pieces"
    assert {"citation", "animation_cue", "viseme_cues"} <= set(order)
    assert any(event["text_delta"]["visemes"] for event in events if "text_delta" in event)
    answer = "".join(event["text_delta"]["text"] for event in events if "text_delta" in event)
    assert "grounded in the documents" in answer
    [citation] = [event["citation"] for event in events if "citation" in event]
    assert citation["document"] == doc.name
    stored = events[-1]["message"]
    assert stored["name"] == events[0]["started"]["assistant_message"]
    assert stored["text"] == answer
    assert stored["state"] == "MESSAGE_STATE_COMPLETE"
    assert [c["document"] for c in stored["citations"]] == [doc.name]
    assert int(stored["input_tokens"]) > 0
    assert int(stored["output_tokens"]) > 0
    # The offline provider is free; the cost is stored, as zero, in the price table's currency.
    assert (stored["cost_micros"], stored["currency_code"]) == ("0", "USD")
    assert float(stored["first_token_latency"].removesuffix("s")) > 0

    [listed] = await _grpcurl(stack, "ListMessages", {"parent": conversation}, account.metadata)
    assert [m["text"] for m in listed["messages"]] == [question, answer]
    assert listed["messages"][1] == stored
