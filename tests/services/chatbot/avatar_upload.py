"""The sample model uploaded through the real avatar service (client streaming), for the chatbot and AI tests."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from tests.services.chatbot.glb_sample import sample_glb
from tests.services.conftest import Account


async def upload_ready_avatar(avatars: avatar_pb2_grpc.AvatarServiceAsyncStub, account: Account) -> avatar_pb2.Avatar:
    """Uploads the sample model and waits until the avatar service has validated it (READY)."""
    content = sample_glb()

    async def requests() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield avatar_pb2.UploadAvatarRequest(
            metadata=avatar_pb2.UploadAvatarMetadata(
                parent=account.tenant,
                display_name="Sample",
                filename="sample.glb",
                size_bytes=len(content),
                content_sha256=hashlib.sha256(content).hexdigest(),
            )
        )
        for offset in range(0, len(content), 1024):
            yield avatar_pb2.UploadAvatarRequest(chunk=content[offset : offset + 1024])

    avatar = (await avatars.UploadAvatar(requests(), metadata=account.metadata)).avatar
    deadline = time.monotonic() + 60
    while avatar.state not in (avatar_pb2.AVATAR_STATE_READY, avatar_pb2.AVATAR_STATE_INVALID):
        assert time.monotonic() < deadline, f"avatar still {avatar_pb2.AvatarState.Name(avatar.state)}"
        await asyncio.sleep(0.2)
        avatar = (
            await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=avatar.name), metadata=account.metadata)
        ).avatar
    assert avatar.state == avatar_pb2.AVATAR_STATE_READY, avatar.validation_report
    return avatar
