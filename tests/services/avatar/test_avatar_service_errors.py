"""AvatarService against bad input: broken and hostile files, stream limits, quota, bad fields, other tenants."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.object_store import LocalObjectStore, model_key, sha256_hex
from tests.errors_assert import expect_error
from tests.services.avatar.conftest import upload, upload_requests
from tests.services.avatar.glb_samples import sample_glb
from tests.services.conftest import Account, Stack


async def _storage_used(stack: Stack, account: Account) -> int:
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    return next(u.used for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_STORAGE_BYTES)


async def _listed(avatars: avatar_pb2_grpc.AvatarServiceAsyncStub, account: Account) -> list[str]:
    page = await avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=account.tenant), metadata=account.metadata)
    return [a.name for a in page.avatars]


async def test_corrupt_files_are_stored_invalid_with_a_clear_report(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("corrupt")
    good = sample_glb()
    truncated = good[: len(good) // 2]
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("model.gltf", '{"asset": {"version": "2.0"}}')
    hostile = good[:12] + (0xFFFFFFF0).to_bytes(4, "little") + good[16:]  # a JSON chunk "4 GiB" long
    for content, code in (
        (truncated, "GLB_LENGTH_MISMATCH"),
        (packed.getvalue(), "GLB_INVALID_MAGIC"),
        (hostile, "GLB_CHUNK_TRUNCATED"),
    ):
        avatar = await upload(avatars, account, content, filename="broken.glb")
        assert avatar.state == avatar_pb2.AVATAR_STATE_INVALID, code
        report = avatar.validation_report
        assert not report.valid
        assert report.error_count >= 1
        codes = [issue.code for issue in report.issues]
        assert code in codes, codes
        first = report.issues[0]
        assert first.severity == avatar_pb2.ISSUE_SEVERITY_ERROR
        assert first.message
        assert first.pointer
        assert avatar.preview.state == avatar_pb2.PREVIEW_STATE_FAILED
    zipped = next(
        a
        for a in (
            await avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=account.tenant), metadata=account.metadata)
        ).avatars
        if a.content_sha256 == sha256_hex(packed.getvalue())
    )
    assert (
        "PK" in zipped.validation_report.issues[0].message
        or "ZIP" in zipped.validation_report.issues[0].message.upper()
    )
    # An invalid avatar cannot be optimized, and the service still answers normally afterwards.
    await expect_error(
        avatars.OptimizeAvatar(avatar_pb2.OptimizeAvatarRequest(name=zipped.name), metadata=account.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    assert (await upload(avatars, account, good)).state == avatar_pb2.AVATAR_STATE_READY


async def test_stream_limits_end_the_upload_and_store_nothing(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("limits")
    md = account.metadata
    content = sample_glb().replace(b"avatarchat tests", b"avatarchat limit")

    # More bytes than declared (20 MiB for a declared 100 kB): nothing past the declared size is kept.
    async def overshoot(chunks: int) -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield avatar_pb2.UploadAvatarRequest(
            metadata=avatar_pb2.UploadAvatarMetadata(parent=account.tenant, filename="big.glb", size_bytes=100_000)
        )
        for _ in range(chunks):
            yield avatar_pb2.UploadAvatarRequest(chunk=b"\0" * 65_536)

    error = await expect_error(
        avatars.UploadAvatar(overshoot(320), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD", {"chunk"}
    )
    assert "50 MiB" in (error.details() or "")
    # A client streaming on past the 50 MiB limit is cut off (the call fails; nothing is kept or charged).
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        await avatars.UploadAvatar(overshoot(2_000), metadata=md)
    assert cut.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)
    # Fewer bytes than declared.
    short = upload_requests(account.tenant, content, size_bytes=len(content) + 10, sha256="")
    await expect_error(
        avatars.UploadAvatar(short(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"metadata.size_bytes"}
    )
    # A chunk over 64 KiB.
    big_chunk = upload_requests(account.tenant, b"\0" * 70_000, chunk=70_000)
    error = await expect_error(
        avatars.UploadAvatar(big_chunk(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"chunk"}
    )
    assert "64 KiB" in (error.details() or "")
    # Over the 50 MiB limit, declared.
    huge = upload_requests(account.tenant, b"", size_bytes=50 * 1024 * 1024 + 1, sha256="")
    await expect_error(
        avatars.UploadAvatar(huge(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"metadata.size_bytes"}
    )
    # A hash that does not match.
    lying = upload_requests(account.tenant, content, sha256="0" * 64)
    await expect_error(
        avatars.UploadAvatar(lying(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"metadata.content_sha256"}
    )

    # A chunk before the metadata, and metadata twice.
    async def chunk_first() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield avatar_pb2.UploadAvatarRequest(chunk=content[:10])

    await expect_error(
        avatars.UploadAvatar(chunk_first(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"metadata"}
    )

    async def metadata_twice() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        meta = avatar_pb2.UploadAvatarMetadata(parent=account.tenant, filename="a.glb", size_bytes=len(content))
        yield avatar_pb2.UploadAvatarRequest(metadata=meta)
        yield avatar_pb2.UploadAvatarRequest(metadata=meta)

    await expect_error(
        avatars.UploadAvatar(metadata_twice(), metadata=md), grpc.StatusCode.INVALID_ARGUMENT, fields={"metadata"}
    )
    assert await _listed(avatars, account) == []
    for _ in range(50):  # reservations are given back in the background, after the error was sent
        if await _storage_used(stack, account) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _storage_used(stack, account) == 0
    store = LocalObjectStore(stack.settings.data_dir / "objects")
    assert not await store.exists(model_key(sha256_hex(content)))


async def test_upload_metadata_reports_every_wrong_field(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("badmeta")

    async def requests() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield avatar_pb2.UploadAvatarRequest(
            metadata=avatar_pb2.UploadAvatarMetadata(
                parent=account.tenant,
                display_name="x" * 101,
                filename="model.zip",
                size_bytes=0,
                content_sha256="XYZ",
            )
        )

    await expect_error(
        avatars.UploadAvatar(requests(), metadata=account.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {"metadata.display_name", "metadata.filename", "metadata.size_bytes", "metadata.content_sha256"},
    )


async def test_storage_quota_is_enforced_before_any_byte_is_sent(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("quota")
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    maximum = next(u.limit for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_STORAGE_BYTES)
    content = sample_glb()
    await stack.tenant.ReserveQuota(
        tenant_pb2.ReserveQuotaRequest(
            name=account.tenant, kind=tenant_pb2.LIMIT_KIND_STORAGE_BYTES, amount=maximum - len(content) + 1
        ),
        metadata=stack.operator.metadata(),
    )
    requests = upload_requests(account.tenant, content)

    async def metadata_alone() -> AsyncIterator[avatar_pb2.UploadAvatarRequest]:
        yield await anext(requests())
        await asyncio.Event().wait()  # not one byte of the model follows: the answer must come without them

    call = avatars.UploadAvatar(metadata_alone(), metadata=account.metadata, timeout=10)
    error = await expect_error(call, grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
    assert "STORAGE" in (error.details() or "").upper()
    await expect_error(upload(avatars, account, content), grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
    assert await _listed(avatars, account) == []


async def test_other_tenants_avatars_are_not_found_through_every_rpc(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    owner, intruder = await stack.new_tenant("owner"), await stack.new_tenant("intruder")
    avatar = await upload(avatars, owner, sample_glb())
    md = intruder.metadata
    name = avatar.name
    missing = f"{owner.tenant}/avatars/{uuid.uuid4()}"
    calls: list[Awaitable[Any]] = [
        avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=name), metadata=md),
        avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=name), metadata=md),
        avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=owner.tenant), metadata=md),
        avatars.ListAnimations(avatar_pb2.ListAnimationsRequest(avatar=name), metadata=md),
        avatars.UpdateAnimationMap(
            avatar_pb2.UpdateAnimationMapRequest(animation_map=avatar_pb2.AnimationMap(name=f"{name}/animationMap")),
            metadata=md,
        ),
        avatars.ValidateAvatar(avatar_pb2.ValidateAvatarRequest(parent=owner.tenant, avatar=name), metadata=md),
        # The intruder's own parent with the owner's avatar: still not found.
        avatars.ValidateAvatar(avatar_pb2.ValidateAvatarRequest(parent=intruder.tenant, avatar=name), metadata=md),
        avatars.GetPreview(avatar_pb2.GetPreviewRequest(name=f"{name}/preview"), metadata=md),
        avatars.OptimizeAvatar(avatar_pb2.OptimizeAvatarRequest(name=name), metadata=md),
        avatars.UploadAvatar(upload_requests(owner.tenant, sample_glb())(), metadata=md),
        # A service token scoped to another tenant is refused the same way.
        avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=name), metadata=stack.operator.metadata(intruder.tenant_id)),
        # And the owner's own missing avatar answers exactly alike.
        avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=missing), metadata=owner.metadata),
    ]
    for call in calls:
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "RESOURCE_NOT_FOUND")
    still = (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=name), metadata=owner.metadata)).avatar
    assert still.animation_map == avatar.animation_map
    assert still.state == avatar_pb2.AVATAR_STATE_READY


async def test_bad_input_is_invalid_argument_with_field_violations(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("badinput")
    md = account.metadata
    avatar = await upload(avatars, account, sample_glb())
    cases: list[tuple[Awaitable[Any], str]] = [
        (avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name="avatars/1"), metadata=md), "name"),
        (
            avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=f"{account.tenant}/avatars/not-a-uuid"), metadata=md),
            "name",
        ),
        (avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=""), metadata=md), "name"),
        (avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent="tenants/x"), metadata=md), "parent"),
        (
            avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=account.tenant, page_size=-1), metadata=md),
            "page_size",
        ),
        (avatars.ListAnimations(avatar_pb2.ListAnimationsRequest(avatar="nope"), metadata=md), "avatar"),
        (
            avatars.UpdateAnimationMap(
                avatar_pb2.UpdateAnimationMapRequest(animation_map=avatar_pb2.AnimationMap(name=avatar.name)),
                metadata=md,
            ),
            "animation_map.name",
        ),
        (
            avatars.UpdateAnimationMap(
                avatar_pb2.UpdateAnimationMapRequest(
                    animation_map=avatar_pb2.AnimationMap(name=f"{avatar.name}/animationMap"),
                    update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                ),
                metadata=md,
            ),
            "update_mask",
        ),
        (avatars.ValidateAvatar(avatar_pb2.ValidateAvatarRequest(parent=account.tenant), metadata=md), "source"),
        (
            avatars.ValidateAvatar(
                avatar_pb2.ValidateAvatarRequest(parent=account.tenant, content=b"\0" * (3 * 1024 * 1024 + 1)),
                metadata=md,
            ),
            "content",
        ),
        (avatars.GetPreview(avatar_pb2.GetPreviewRequest(name=avatar.name), metadata=md), "name"),
        (
            avatars.OptimizeAvatar(
                avatar_pb2.OptimizeAvatarRequest(
                    name=avatar.name, options=avatar_pb2.OptimizationOptions(max_texture_size=300)
                ),
                metadata=md,
            ),
            "options.max_texture_size",
        ),
    ]
    for call, field in cases:
        await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD", {field})
