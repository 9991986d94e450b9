"""Fixtures of the avatar service tests: the AvatarService stub, upload helpers and this session's job queues."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import pytest

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import Account, Stack

ROBOT = Path(__file__).resolve().parents[3].parent / "shared/assets/avatars/robot-expressive.glb"
CHUNK = 64 * 1024

# Job queues are durable and shared through the machine's RabbitMQ: a session of its own keeps other test
# runs' workers from taking this run's jobs (and this run's from taking theirs). Read when the stack starts.
QUEUE_PREFIX = os.environ.setdefault("AVATARCHAT_AVATAR_QUEUE_PREFIX", f"avatar-test-{uuid.uuid4().hex[:10]}")


def robot_bytes() -> bytes:
    """robot-expressive.glb from ../shared, or a clean skip in a plain clone."""
    if not ROBOT.exists():
        pytest.skip(f"{ROBOT} is absent (a plain clone has no ../shared)")
    return ROBOT.read_bytes()


@pytest.fixture
def avatars(stack: Stack) -> avatar_pb2_grpc.AvatarServiceAsyncStub:
    """An AvatarService stub on the running stack."""
    return avatar_pb2_grpc.AvatarServiceStub(stack.channel("avatar"))


def upload_requests(
    parent: str,
    content: bytes,
    *,
    filename: str = "model.glb",
    display_name: str = "",
    size_bytes: int | None = None,
    sha256: str | None = None,
    chunk: int = CHUNK,
) -> Callable[[], AsyncIterator[avatar_pb2.UploadAvatarRequest]]:
    """A factory of the request stream of one upload (metadata, then chunks)."""

    async def requests() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield avatar_pb2.UploadAvatarRequest(
            metadata=avatar_pb2.UploadAvatarMetadata(
                parent=parent,
                display_name=display_name,
                filename=filename,
                size_bytes=len(content) if size_bytes is None else size_bytes,
                content_sha256=hashlib.sha256(content).hexdigest() if sha256 is None else sha256,
            )
        )
        for offset in range(0, len(content), chunk):
            yield avatar_pb2.UploadAvatarRequest(chunk=content[offset : offset + chunk])

    return requests


async def upload(
    avatars: avatar_pb2_grpc.AvatarServiceAsyncStub, account: Account, content: bytes, **kwargs: object
) -> avatar_pb2.Avatar:
    """Uploads `content` as the account's owner and returns the stored avatar."""
    stream = upload_requests(account.tenant, content, **kwargs)  # type: ignore[arg-type]
    return (await avatars.UploadAvatar(stream(), metadata=account.metadata)).avatar


async def wait_for(
    read: Callable[[], Awaitable[avatar_pb2.Avatar]], done: Callable[[avatar_pb2.Avatar], bool], seconds: float
) -> avatar_pb2.Avatar:
    """Polls `read` until `done` holds (background jobs), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        avatar = await read()
        if done(avatar):
            return avatar
        assert time.monotonic() < deadline, f"gave up waiting; last state: {avatar}"
        await asyncio.sleep(0.25)


@pytest.fixture(scope="session", autouse=True)
async def _drop_session_queues() -> AsyncIterator[None]:
    """Deletes this session's job queues after the run, so nothing accumulates messages on the shared broker."""
    yield
    if not QUEUE_PREFIX.startswith("avatar-test-"):
        return  # a prefix set from outside belongs to someone else's workers
    try:
        connection = await aio_pika.connect(RuntimeSettings().amqp_url, timeout=5)
    except (OSError, aio_pika.exceptions.AMQPError):
        return  # no broker: no queues were declared either
    try:
        channel = await connection.channel()
        for job in ("preview", "optimize"):
            for suffix in ("", ".retry", ".dlq"):
                await channel.queue_delete(f"{QUEUE_PREFIX}.{job}{suffix}")
    finally:
        await connection.close()
