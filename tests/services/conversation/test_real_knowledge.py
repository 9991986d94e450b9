"""The chat path over the real knowledge service: an ingested document is retrieved, cited and stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from avatarchat.conversation.v1 import conversation_pb2 as pb
from avatarchat.conversation.v1 import conversation_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, kinds, send, start, text_of

worker = pytest.importorskip("services.knowledge.worker")
knowledge_server = pytest.importorskip("services.knowledge.server")
service_env = pytest.importorskip("tests.services.knowledge.service_env")

HOURS_DOC = (
    "Opening hours\n\n"
    "The Riverside store opens at 9am on weekdays. On Saturdays the store opens at 10am and closes at 4pm. "
    "The store is closed on Sundays and public holidays.\n\n"
    "Returns\n\nItems can be returned within 30 days with the receipt."
)


@pytest.fixture(scope="module")
async def ingestion(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[Any]:
    """A knowledge host and ingestion worker on their own queues; documents land in the shared database.

    Typed Any: the knowledge test helpers are someone else's work in progress and are not type-checked from here.
    """
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


async def test_a_conversation_cites_the_ingested_document_it_answered_from(stack: Stack, ingestion: Any) -> None:
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
