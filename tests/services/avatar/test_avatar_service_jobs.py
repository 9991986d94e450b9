"""Background jobs on the running stack: the preview after an upload, and optimization on request."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import grpc
import pytest

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from services.avatar.image_headers import read_image_header
from services.avatar.validation import validate_glb
from services.runtime.object_store import LocalObjectStore, model_key, preview_key
from tests.errors_assert import expect_error
from tests.services.avatar.conftest import robot_bytes, upload, wait_for
from tests.services.avatar.glb_samples import sample_glb
from tests.services.conftest import Stack

REPO = Path(__file__).resolve().parents[3]
GLTF_TRANSFORM = REPO / "node_modules" / ".bin" / "gltf-transform"

needs_preview = pytest.mark.skipif(
    importlib.util.find_spec("services.avatar.preview") is None or shutil.which("chromium") is None,
    reason="services/avatar/preview.py (render_preview) or /usr/bin/chromium is missing",
)
needs_optimizer = pytest.mark.skipif(
    importlib.util.find_spec("services.avatar.optimizer") is None or not GLTF_TRANSFORM.exists(),
    reason="services/avatar/optimizer.py (optimize_glb) or node_modules/.bin/gltf-transform is missing",
)


@needs_preview
async def test_a_preview_is_rendered_after_upload(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("render")
    md = account.metadata
    avatar = await upload(avatars, account, sample_glb().replace(b"avatarchat tests", b"avatarchat prevw"))

    async def read() -> avatar_pb2.Avatar:
        return (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=avatar.name), metadata=md)).avatar

    done = await wait_for(
        read,
        lambda a: a.preview.state in (avatar_pb2.PREVIEW_STATE_READY, avatar_pb2.PREVIEW_STATE_FAILED),
        90,
    )
    assert done.preview.state == avatar_pb2.PREVIEW_STATE_READY, done.preview.failure_reason
    assert done.preview.url == f"/models/{avatar.content_sha256}.preview.png"
    assert (done.preview.width, done.preview.height) == (512, 512)
    assert done.preview.HasField("render_time")
    png = await LocalObjectStore(stack.settings.data_dir / "objects").get(preview_key(avatar.content_sha256))
    header = read_image_header(png)
    assert header is not None
    assert (header.mime_type, header.width) == ("image/png", 512)
    got = await avatars.GetPreview(avatar_pb2.GetPreviewRequest(name=f"{avatar.name}/preview"), metadata=md)
    assert got.preview == done.preview


@needs_optimizer
async def test_optimization_keeps_the_original_and_records_sizes(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    content = robot_bytes()
    account = await stack.new_tenant("optimize")
    md = account.metadata
    avatar = await upload(avatars, account, content)
    started = (
        await avatars.OptimizeAvatar(
            avatar_pb2.OptimizeAvatarRequest(
                name=avatar.name,
                options=avatar_pb2.OptimizationOptions(
                    mesh_compression=avatar_pb2.MESH_COMPRESSION_MESHOPT, max_texture_size=1024
                ),
            ),
            metadata=md,
        )
    ).avatar
    assert started.state == avatar_pb2.AVATAR_STATE_OPTIMIZING
    assert started.optimization.state == avatar_pb2.OPTIMIZATION_STATE_RUNNING
    assert started.optimization.options.max_texture_size == 1024
    await expect_error(
        avatars.OptimizeAvatar(avatar_pb2.OptimizeAvatarRequest(name=avatar.name), metadata=md),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    await expect_error(
        avatars.ValidateAvatar(
            avatar_pb2.ValidateAvatarRequest(parent=account.tenant, avatar=avatar.name), metadata=md
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )

    async def read() -> avatar_pb2.Avatar:
        return (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=avatar.name), metadata=md)).avatar

    done = await wait_for(read, lambda a: a.state != avatar_pb2.AVATAR_STATE_OPTIMIZING, 110)
    assert done.optimization.state == avatar_pb2.OPTIMIZATION_STATE_SUCCEEDED, done.optimization.error
    assert done.state == avatar_pb2.AVATAR_STATE_READY
    assert done.HasField("optimization")
    assert done.optimization.HasField("finish_time")
    assert 0 < done.optimized_size_bytes < done.original_size_bytes == len(content)
    assert done.optimized_model_url == done.model_url == f"/models/{done.optimized_sha256}.glb"
    assert done.original_model_url == f"/models/{avatar.content_sha256}.glb"
    store = LocalObjectStore(stack.settings.data_dir / "objects")
    assert await store.get(model_key(avatar.content_sha256)) == content  # the original is kept
    optimized = await store.get(model_key(done.optimized_sha256))
    assert len(optimized) == done.optimized_size_bytes
    assert validate_glb(optimized).valid
