"""Fixtures of the knowledge tests: the MiniLM embedder and tokenizer, the PostgreSQL manual, the running service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from avatarchat.knowledge.v1 import knowledge_pb2_grpc
from services.knowledge.embedding import MiniLmEmbedder
from services.knowledge.server import build
from services.knowledge.tokens import WordPieceCounter, minilm_token_counter
from services.knowledge.worker import IngestWorker
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge, delete_topology, knowledge_settings

#: Where Debian's postgresql-doc-15 package puts the HTML manual (`apt-get install -y postgresql-doc-15`).
POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@pytest.fixture(scope="session")
def counter() -> WordPieceCounter:
    """The MiniLM tokenizer's counter."""
    return minilm_token_counter()


@pytest.fixture(scope="session")
async def minilm_embedder() -> AsyncIterator[MiniLmEmbedder]:
    """The local embedder with its model loaded, once for the whole session."""
    embedder = MiniLmEmbedder(batch_size=32, threads=2)
    await embedder.load()
    yield embedder
    await embedder.aclose()


@pytest.fixture(scope="session")
def postgres_docs() -> Path:
    """The PostgreSQL 15 HTML manual; skips the test when the Debian package is not installed."""
    if not (POSTGRES_DOCS / "index.html").is_file():
        pytest.skip(f"PostgreSQL manual not installed at {POSTGRES_DOCS} (apt-get install -y postgresql-doc-15)")
    return POSTGRES_DOCS


@pytest.fixture(scope="session")
async def knowledge(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[Knowledge]:
    """The knowledge service (own host, own queues) and an in-process ingestion worker."""
    own = knowledge_settings(settings)
    host = await build(own, port=free_port())
    await host.start()
    worker = IngestWorker(own)
    await worker.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port}")
    yield Knowledge(knowledge_pb2_grpc.KnowledgeServiceStub(channel), own)
    await channel.close()
    await worker.stop()
    await host.stop(0.5)
    await delete_topology(own)


@pytest.fixture
async def account(stack: Stack) -> Account:
    """A fresh tenant with its signed-in owner."""
    return await stack.new_tenant("kn")
