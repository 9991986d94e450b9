"""UploadAvatar: reads the client stream within the contract's limits, then stores, validates and maps the model.

Limits are enforced while streaming: the first wrong message ends the call, so a client cannot make the
service buffer more than the declared (and quota-reserved) size. Same bytes uploaded twice by one tenant
answer ALREADY_EXISTS naming the first avatar (one model, one avatar, one quota charge); across tenants
the bytes are stored once under their content hash and each tenant gets its own avatar.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator

from avatarchat.avatar.v1 import avatar_pb2
from services.avatar import validate
from services.avatar.analysis import analyse
from services.avatar.convert import avatar_name
from services.avatar.store import AvatarRow, AvatarStore, NewAvatar
from services.runtime import errors
from services.runtime.context import require_tenant_access
from services.runtime.object_store import ObjectStore, model_key
from services.runtime.quota import PlanQuota

log = logging.getLogger(__name__)

GLB_CONTENT_TYPE = "model/gltf-binary"
#: Longest a rejected upload is read (and dropped) so the client sees the error rather than a reset.
DRAIN_SECONDS = 10.0


class Uploads:
    """Receives uploads and turns them into stored, validated avatars."""

    def __init__(self, store: AvatarStore, objects: ObjectStore, quota: PlanQuota) -> None:
        self._store = store
        self._objects = objects
        self._quota = quota
        self._releases: set[asyncio.Task[None]] = set()

    async def receive(self, requests: AsyncIterator[avatar_pb2.UploadAvatarRequest]) -> AvatarRow:
        """The stored avatar (READY or INVALID with its report); nothing is stored or charged on any error."""
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("payload") != "metadata":
            raise errors.InvalidArgument.field("metadata", "the first message must carry the upload's metadata")
        meta = validate.upload_metadata(first.metadata)
        require_tenant_access(meta.tenant_id, first.metadata.parent)
        if meta.content_sha256:
            await self._refuse_duplicate(meta.tenant_id, meta.content_sha256)
        # Reserved up front from the declared size, so an over-quota upload fails before any byte is sent.
        await self._quota.reserve(meta.tenant_id, meta.size_bytes)
        try:
            data = await _read_chunks(requests, meta.size_bytes)
            return await self._store_model(meta, data)
        except BaseException:
            # Released in the background: the error must reach the client at once, because a client still
            # streaming when the status is late sees the call reset (INTERNAL) instead of the real error.
            task = asyncio.create_task(self._quota.release_or_log(meta.tenant_id, meta.size_bytes))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)
            raise

    async def _refuse_duplicate(self, tenant_id: uuid.UUID, sha256: str) -> None:
        existing = await self._store.by_content(tenant_id, sha256)
        if existing is not None:
            raise errors.AlreadyExists(avatar_name(existing.tenant_id, existing.id), "content_sha256")

    async def _store_model(self, meta: validate.UploadMetadata, data: bytes) -> AvatarRow:
        sha256 = hashlib.sha256(data).hexdigest()
        if meta.content_sha256 and meta.content_sha256 != sha256:
            raise errors.InvalidArgument.field(
                "metadata.content_sha256", f"the received bytes hash to {sha256}, not {meta.content_sha256}"
            )
        await self._refuse_duplicate(meta.tenant_id, sha256)
        analysis = await analyse(data)
        key = model_key(sha256)
        new = NewAvatar(
            display_name=meta.display_name,
            filename=meta.filename,
            state=analysis.state,
            content_sha256=sha256,
            original_size_bytes=len(data),
            report=analysis.report,
            clips=analysis.clips,
            morph_targets=analysis.morph_targets,
            animation_map=analysis.auto_map,
            # An invalid model is never rendered; its preview says why instead of waiting forever.
            preview_state="pending" if analysis.valid else "failed",
            preview_failure="" if analysis.valid else "the model failed validation",
        )

        async def put() -> bool:
            return await self._objects.put(key, data, GLB_CONTENT_TYPE)

        event = {"content_sha256": sha256, "state": analysis.state, "size_bytes": len(data)}
        row = await self._store.create(meta.tenant_id, new, key, put, event)
        if row is None:  # the same bytes won a race with this upload
            await self._refuse_duplicate(meta.tenant_id, sha256)
            raise errors.AlreadyExists(f"{meta.tenant_id}/avatars", "content_sha256")
        log.info(
            "avatar uploaded",
            extra={"avatar": avatar_name(row.tenant_id, row.id), "state": row.state, "bytes": len(data)},
        )
        return row


async def _read_chunks(requests: AsyncIterator[avatar_pb2.UploadAvatarRequest], size: int) -> bytes:
    """The file from the remaining messages; nothing more is kept after the first message that breaks a limit."""
    received = bytearray()
    async for message in requests:
        violation = _violation(message, len(received), size)
        if violation is not None:
            await _discard_rest(requests, validate.MAX_UPLOAD_BYTES - len(received))
            raise violation
        received += message.chunk
    if len(received) != size:
        raise errors.InvalidArgument.field(
            "metadata.size_bytes", f"the chunks add up to {len(received)} bytes, not the declared {size}"
        )
    return bytes(received)


def _violation(message: avatar_pb2.UploadAvatarRequest, received: int, size: int) -> errors.InvalidArgument | None:
    """The limit `message` breaks, if any."""
    if message.WhichOneof("payload") != "chunk":
        return errors.InvalidArgument.field("metadata", "only the first message may carry metadata")
    if len(message.chunk) > validate.MAX_CHUNK_BYTES:
        return errors.InvalidArgument.field(
            "chunk", f"{len(message.chunk)} bytes in one message; the limit is 65536 (64 KiB) per chunk"
        )
    if received + len(message.chunk) > size:
        return errors.InvalidArgument.field(
            "chunk", f"more bytes than metadata.size_bytes ({size}); uploads are limited to 50 MiB"
        )
    return None


async def _discard_rest(requests: AsyncIterator[avatar_pb2.UploadAvatarRequest], budget: int) -> None:
    """Reads and drops what the client is still sending, up to `budget` bytes or DRAIN_SECONDS.

    gRPC clients that are still writing when the status arrives see the stream reset (INTERNAL, "Internal
    error from Core") instead of the status, so a client that overshoots a limit by up to the 50 MiB upload
    size gets the real error; one that keeps streaming past that is cut off.
    """
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for message in requests:
                drained += message.ByteSize()
                if drained > budget:
                    return
