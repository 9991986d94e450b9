"""AvatarService end to end on the running stack: upload, report, automatic map, edits, listing, delete, default."""

from __future__ import annotations

import hashlib
import uuid

import grpc
from google.protobuf import field_mask_pb2

from avatarchat.ai.v1 import ai_pb2
from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.object_store import LocalObjectStore, model_key
from tests.errors_assert import expect_error
from tests.services.avatar.conftest import robot_bytes, upload
from tests.services.avatar.glb_samples import sample_glb
from tests.services.conftest import Account, Stack


def _entries(animation_map: avatar_pb2.AnimationMap) -> dict[int, tuple[str, str, int]]:
    return {
        e.behaviour: (e.WhichOneof("target") or "", getattr(e, e.WhichOneof("target") or "clip"), e.source)
        for e in animation_map.entries
    }


async def _storage_used(stack: Stack, account: Account) -> int:
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    return next(u.used for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_STORAGE_BYTES)


async def test_upload_robot_is_ready_with_report_and_automatic_map(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    content = robot_bytes()
    account = await stack.new_tenant("robot")
    avatar = await upload(avatars, account, content, filename="robot-expressive.glb", chunk=50_000)
    sha = hashlib.sha256(content).hexdigest()
    assert avatar.name.startswith(f"{account.tenant}/avatars/")
    assert avatar.state == avatar_pb2.AVATAR_STATE_READY
    assert (avatar.display_name, avatar.filename) == ("robot-expressive", "robot-expressive.glb")
    assert avatar.content_sha256 == sha
    assert avatar.original_model_url == avatar.model_url == f"/models/{sha}.glb"
    assert avatar.original_size_bytes == len(content)
    report = avatar.validation_report
    assert report.valid
    assert report.error_count == 0
    assert report.stats.animations == 14
    assert report.stats.skins == 4
    assert report.stats.morph_targets == 3
    assert report.HasField("validate_time")
    assert [c.name for c in avatar.clips][:3] == ["Dance", "Death", "Idle"]
    assert all(c.duration.seconds or c.duration.nanos for c in avatar.clips)
    assert {m.name for m in avatar.morph_targets} == {"Angry", "Surprised", "Sad"}
    mapped = _entries(avatar.animation_map)
    assert mapped[ai_pb2.BEHAVIOUR_GREET][:2] == ("clip", "Wave")
    assert mapped[ai_pb2.BEHAVIOUR_NOD][:2] == ("clip", "Yes")
    assert mapped[ai_pb2.BEHAVIOUR_SHAKE][:2] == ("clip", "No")
    assert mapped[ai_pb2.BEHAVIOUR_IDLE][:2] == ("clip", "Idle")
    assert mapped[ai_pb2.BEHAVIOUR_THUMBS_UP][:2] == ("clip", "ThumbsUp")
    assert mapped[ai_pb2.BEHAVIOUR_SAD][:2] == ("morph_target", "Sad")
    assert all(source == avatar_pb2.MAPPING_SOURCE_AUTO for _, _, source in mapped.values())
    assert {"Death", "Punch", "Running"} <= set(avatar.animation_map.unmapped_clips)
    assert avatar.animation_map.name == f"{avatar.name}/animationMap"
    assert avatar.preview.name == f"{avatar.name}/preview"
    assert await _storage_used(stack, account) == len(content)
    got = (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=avatar.name), metadata=account.metadata)).avatar
    assert got.name == avatar.name
    assert got.validation_report == avatar.validation_report
    stored = LocalObjectStore(stack.settings.data_dir / "objects")
    assert await stored.get(model_key(sha)) == content


async def test_update_animation_map_with_a_field_mask_and_reset(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("remap")
    md = account.metadata
    avatar = await upload(avatars, account, sample_glb())
    clip = avatar.clips[0].name
    morphs = [m.name for m in avatar.morph_targets]
    assert morphs, "the sample has morph targets"
    wanted = avatar_pb2.AnimationMap(
        name=f"{avatar.name}/animationMap",
        entries=[avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_CELEBRATE, clip=clip)],
        viseme_morphs={"aa": morphs[0]},
    )
    changed = (
        await avatars.UpdateAnimationMap(
            avatar_pb2.UpdateAnimationMapRequest(
                animation_map=wanted, update_mask=field_mask_pb2.FieldMask(paths=["entries"])
            ),
            metadata=md,
        )
    ).animation_map
    assert _entries(changed) == {ai_pb2.BEHAVIOUR_CELEBRATE: ("clip", clip, avatar_pb2.MAPPING_SOURCE_MANUAL)}
    assert dict(changed.viseme_morphs) == dict(avatar.animation_map.viseme_morphs)  # not in the mask: kept
    assert clip not in changed.unmapped_clips
    both = (
        await avatars.UpdateAnimationMap(avatar_pb2.UpdateAnimationMapRequest(animation_map=wanted), metadata=md)
    ).animation_map
    assert dict(both.viseme_morphs) == {"aa": morphs[0]}
    again = (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=avatar.name), metadata=md)).avatar
    assert again.animation_map == both
    reset = (
        await avatars.UpdateAnimationMap(
            avatar_pb2.UpdateAnimationMapRequest(animation_map=wanted, reset_to_auto=True), metadata=md
        )
    ).animation_map
    assert reset == avatar.animation_map
    bad = avatar_pb2.AnimationMap(
        name=wanted.name,
        entries=[
            avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_NOD, clip="NoSuchClip"),
            avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_SAD, morph_target="nope"),
            avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_UNSPECIFIED, clip=clip),
            avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_HAPPY),
        ],
        viseme_morphs={"zz": morphs[0], "PP": "missing"},
    )
    await expect_error(
        avatars.UpdateAnimationMap(avatar_pb2.UpdateAnimationMapRequest(animation_map=bad), metadata=md),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {
            "animation_map.entries[0].clip",
            "animation_map.entries[1].morph_target",
            "animation_map.entries[2].behaviour",
            "animation_map.entries[3]",
            "animation_map.viseme_morphs[zz]",
            "animation_map.viseme_morphs[PP]",
        },
    )
    await expect_error(
        avatars.UpdateAnimationMap(
            avatar_pb2.UpdateAnimationMapRequest(
                animation_map=wanted, update_mask=field_mask_pb2.FieldMask(paths=["unmapped_clips"])
            ),
            metadata=md,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields={"update_mask"},
    )


async def test_list_animations_with_and_without_an_avatar(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("anims")
    library = (await avatars.ListAnimations(avatar_pb2.ListAnimationsRequest(), metadata=account.metadata)).animations
    assert [a.behaviour for a in library] == list(range(1, 21))
    assert all(a.description and a.default_avatar_supported and not a.avatar_supported for a in library)
    avatar = await upload(avatars, account, sample_glb())
    own = (
        await avatars.ListAnimations(avatar_pb2.ListAnimationsRequest(avatar=avatar.name), metadata=account.metadata)
    ).animations
    supported = {a.behaviour for a in own if a.avatar_supported}
    assert supported == {e.behaviour for e in avatar.animation_map.entries}
    assert ai_pb2.BEHAVIOUR_GREET in supported


async def test_list_avatars_pages_newest_first_and_delete(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("pages")
    md = account.metadata
    base = bytearray(sample_glb())
    names = []
    for i in range(5):
        # Different bytes (the asset generator string), same model: five avatars.
        content = bytes(base).replace(b"avatarchat tests", f"avatarchat test{i}".encode()[:16])
        names.append((await upload(avatars, account, content, display_name=f"A{i}")).name)
    seen: list[str] = []
    token = ""
    while True:
        page = await avatars.ListAvatars(
            avatar_pb2.ListAvatarsRequest(parent=account.tenant, page_size=2, page_token=token), metadata=md
        )
        assert len(page.avatars) <= 2
        seen += [a.name for a in page.avatars]
        token = page.next_page_token
        if not token:
            break
    assert seen == names[::-1]
    await expect_error(
        avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=account.tenant, page_token="garbage"), metadata=md),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields={"page_token"},
    )
    used = await _storage_used(stack, account)
    victim = (await avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=names[0]), metadata=md)).avatar
    await avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=victim.name), metadata=md)
    await expect_error(
        avatars.GetAvatar(avatar_pb2.GetAvatarRequest(name=victim.name), metadata=md),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )
    await expect_error(
        avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=victim.name), metadata=md),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await _storage_used(stack, account) == used - victim.original_size_bytes
    store = LocalObjectStore(stack.settings.data_dir / "objects")
    assert not await store.exists(model_key(victim.content_sha256))  # no other avatar used those bytes


async def test_same_bytes_are_one_object_and_already_exists_for_the_same_tenant(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    content = sample_glb().replace(b"avatarchat tests", b"avatarchat dedup")
    first_tenant, second_tenant = await stack.new_tenant("dedup-a"), await stack.new_tenant("dedup-b")
    first = await upload(avatars, first_tenant, content)
    error = await expect_error(
        upload(avatars, first_tenant, content), grpc.StatusCode.ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS"
    )
    assert first.name in (error.details() or "")
    # Without a declared hash the duplicate is found after streaming, with the same answer.
    await expect_error(upload(avatars, first_tenant, content, sha256=""), grpc.StatusCode.ALREADY_EXISTS)
    second = await upload(avatars, second_tenant, content)
    assert second.name != first.name
    assert second.content_sha256 == first.content_sha256
    assert second.model_url == first.model_url
    store = LocalObjectStore(stack.settings.data_dir / "objects")
    key = model_key(first.content_sha256)
    await avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=first.name), metadata=first_tenant.metadata)
    assert await store.get(key) == content  # still used by the other tenant's avatar
    await avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=second.name), metadata=second_tenant.metadata)
    assert not await store.exists(key)


async def test_default_avatar_is_generated_stored_and_maps_every_behaviour(
    stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub
) -> None:
    account = await stack.new_tenant("default")
    default = (await avatars.GetDefaultAvatar(avatar_pb2.GetDefaultAvatarRequest(), metadata=account.metadata)).avatar
    assert default.name == "avatars/default"
    assert default.state == avatar_pb2.AVATAR_STATE_READY
    assert default.validation_report.valid
    assert {e.behaviour for e in default.animation_map.entries} == set(range(1, 21))
    assert default.animation_map.viseme_morphs
    store = LocalObjectStore(stack.settings.data_dir / "objects")
    data = await store.get(model_key(default.content_sha256))
    assert hashlib.sha256(data).hexdigest() == default.content_sha256
    assert default.model_url == f"/models/{default.content_sha256}.glb"
    # The same call as a widget visitor's service-side proxy (a service token for the tenant).
    as_service = await avatars.GetDefaultAvatar(
        avatar_pb2.GetDefaultAvatarRequest(), metadata=stack.operator.metadata(account.tenant_id)
    )
    assert as_service.avatar.content_sha256 == default.content_sha256


async def test_get_preview_and_validate_again(stack: Stack, avatars: avatar_pb2_grpc.AvatarServiceAsyncStub) -> None:
    account = await stack.new_tenant("preview")
    md = account.metadata
    avatar = await upload(avatars, account, sample_glb())
    preview = (
        await avatars.GetPreview(avatar_pb2.GetPreviewRequest(name=f"{avatar.name}/preview"), metadata=md)
    ).preview
    assert preview.name == f"{avatar.name}/preview"
    # A valid model's preview is on its way (or, with Chromium, may already be rendered): never failed.
    assert preview.state in (
        avatar_pb2.PREVIEW_STATE_PENDING,
        avatar_pb2.PREVIEW_STATE_RENDERING,
        avatar_pb2.PREVIEW_STATE_READY,
    )
    elsewhere = await stack.new_tenant("preview-failed")
    broken = await upload(avatars, elsewhere, sample_glb()[:100], filename="broken.glb")
    failed = (
        await avatars.GetPreview(
            avatar_pb2.GetPreviewRequest(name=f"{broken.name}/preview"), metadata=elsewhere.metadata
        )
    ).preview
    assert (failed.name, failed.state) == (f"{broken.name}/preview", avatar_pb2.PREVIEW_STATE_FAILED)
    assert failed.failure_reason == "the model failed validation"
    again = await avatars.ValidateAvatar(
        avatar_pb2.ValidateAvatarRequest(parent=account.tenant, avatar=avatar.name), metadata=md
    )
    assert again.report.valid
    assert [c.name for c in again.clips] == [c.name for c in avatar.clips]
    inline = await avatars.ValidateAvatar(
        avatar_pb2.ValidateAvatarRequest(parent=account.tenant, content=b"PK\x03\x04not a model"), metadata=md
    )
    assert not inline.report.valid
    assert inline.report.issues[0].code == "GLB_INVALID_MAGIC"
    assert inline.report.issues[0].pointer == "glb.header"
    listed = await avatars.ListAvatars(avatar_pb2.ListAvatarsRequest(parent=account.tenant), metadata=md)
    assert [a.name for a in listed.avatars] == [avatar.name]  # the inline check stored nothing
    assert uuid.UUID(avatar.name.rsplit("/", 1)[1])
