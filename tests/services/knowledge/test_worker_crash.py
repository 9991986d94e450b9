"""A worker killed mid-document: another worker finishes it, and it ends with exactly one set of chunks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.knowledge.server import build
from services.knowledge.settings import KnowledgeSettings
from services.knowledge.worker import IngestWorker
from services.runtime.settings import PROJECT_ROOT, RuntimeSettings
from tests.conftest import free_port
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge, delete_topology, knowledge_settings

PROCESSING = knowledge_pb2.DOCUMENT_STATE_PROCESSING


def long_document() -> bytes:
    """Forty chunks of distinct prose (one per section), so a slow worker spends seconds embedding it."""
    sections = []
    for n in range(40):
        words = " ".join(f"term{n}x{k}" for k in range(40))
        sections.append(f"## Section {n}\n\nParagraph {n} explains topic {n} in detail: {words}.\n")
    return "\n".join(sections).encode()


@pytest.fixture
async def crash_env(stack: Stack, settings: RuntimeSettings) -> AsyncIterator[Knowledge]:
    """A knowledge host on its own queues, with no worker: the test starts and kills workers itself."""
    own = knowledge_settings(settings, knowledge_embed_batch_size=4, knowledge_embed_delay_seconds=0.3)
    host = await build(own, port=free_port())
    await host.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port}")
    yield Knowledge(knowledge_pb2_grpc.KnowledgeServiceStub(channel), own)
    await channel.close()
    await host.stop(0.5)
    await delete_topology(own)


def start_worker_process(settings: KnowledgeSettings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m services.knowledge.worker` with the test's settings in its environment."""
    env = {
        **os.environ,
        "AVATARCHAT_DATA_DIR": str(settings.data_dir),
        "AVATARCHAT_DATABASE_URL": settings.database_url,
        "AVATARCHAT_INTERNAL_SECRET": settings.internal_secret,
        "AVATARCHAT_KNOWLEDGE_EXCHANGE": settings.knowledge_exchange,
        "AVATARCHAT_KNOWLEDGE_QUEUE": settings.knowledge_queue,
        "AVATARCHAT_KNOWLEDGE_EMBED_BATCH_SIZE": str(settings.knowledge_embed_batch_size),
        "AVATARCHAT_KNOWLEDGE_EMBED_DELAY_SECONDS": str(settings.knowledge_embed_delay_seconds),
        "AVATARCHAT_KNOWLEDGE_BACKOFF_SECONDS": "[0.2]",
        "AVATARCHAT_LOG_JSON": "false",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.knowledge.worker"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out
        )


async def test_killed_worker_leaves_exactly_one_set_of_chunks(
    crash_env: Knowledge, account: Account, settings: RuntimeSettings, tmp_path: Path
) -> None:
    kb = await crash_env.new_kb(account)
    doc = await crash_env.upload(account, kb.name, long_document(), "text/markdown", "long.md")
    victim = start_worker_process(crash_env.settings, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            current = await crash_env.wait(account, doc.name, {PROCESSING}, wait_seconds=60)
            if current.progress_percent > 20:
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            await asyncio.sleep(0.1)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    survivor = IngestWorker(crash_env.settings.model_copy(update={"knowledge_embed_delay_seconds": 0.0}))
    await survivor.start()
    try:
        done = await crash_env.wait(account, doc.name, wait_seconds=120)
    finally:
        await survivor.stop()
    assert done.state == knowledge_pb2.DOCUMENT_STATE_READY, done.failure_reason
    assert done.attempt_count == 2
    document_id = uuid.UUID(doc.name.rsplit("/", 1)[1])
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT chunk_index, attempt FROM knowledge.chunks WHERE document_id = $1 ORDER BY chunk_index",
            document_id,
        )
    finally:
        await conn.close()
    assert len(rows) == done.chunk_count > 30
    assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
    assert {r["attempt"] for r in rows} == {2}
