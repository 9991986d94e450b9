"""AvatarService: thin RPC methods over the avatar store, uploads, analysis, jobs and the default avatar."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from services.avatar import animation_maps, convert, validate
from services.avatar.analysis import analyse
from services.avatar.behaviours import BEHAVIOURS
from services.avatar.jobs import OPTIMIZE_REQUESTED
from services.avatar.mapping import auto_map
from services.avatar.store import AvatarRow, AvatarStore
from services.avatar.uploads import Uploads
from services.runtime import errors
from services.runtime.context import require_tenant_access
from services.runtime.names import parse_tenant
from services.runtime.object_store import ObjectStore, model_key
from services.runtime.pagination import PageTokens, page_size
from services.runtime.quota import PlanQuota

Context = grpc.aio.ServicerContext[Any, Any]


def _auto(row: AvatarRow) -> dict[str, Any]:
    """The automatic map of the row's model (deterministic from its clip and morph names, so not stored)."""
    return convert.map_json(auto_map([c["name"] for c in row.clips], [m["name"] for m in row.morph_targets]))


class AvatarServicer(avatar_pb2_grpc.AvatarServiceServicer):
    """Implements avatarchat.avatar.v1.AvatarService."""

    def __init__(
        self,
        store: AvatarStore,
        *,
        objects: ObjectStore,
        uploads: Uploads,
        quota: PlanQuota,
        page_tokens: PageTokens,
        default_avatar: AvatarRow,
    ) -> None:
        self._store = store
        self._objects = objects
        self._uploads = uploads
        self._quota = quota
        self._pages = page_tokens
        self._default = default_avatar

    async def _row(self, name: str, pattern: str = validate.AVATAR_PATTERN, field: str = "name") -> AvatarRow:
        tenant_id, avatar_id = validate.ids(name, pattern, field)
        require_tenant_access(tenant_id, name)
        row = await self._store.get(tenant_id, avatar_id)
        if row is None:
            raise errors.NotFound(name)
        return row

    async def ListAvatars(
        self, request: avatar_pb2.ListAvatarsRequest, context: Context
    ) -> avatar_pb2.ListAvatarsResponse:
        """A page of the tenant's avatars, newest first."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        size = page_size(request.page_size)
        scope = f"{request.parent}/avatars"
        cursor = self._pages.decode(request.page_token, scope)
        before = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.page(tenant_id, size + 1, before)
        response = avatar_pb2.ListAvatarsResponse(avatars=[convert.avatar_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def UploadAvatar(
        self, request_iterator: AsyncIterator[avatar_pb2.UploadAvatarRequest], context: Context
    ) -> avatar_pb2.UploadAvatarResponse:
        """Streams the file in, validates and maps it, and stores the avatar READY or INVALID."""
        row = await self._uploads.receive(request_iterator)
        return avatar_pb2.UploadAvatarResponse(avatar=convert.avatar_message(row))

    async def GetAvatar(self, request: avatar_pb2.GetAvatarRequest, context: Context) -> avatar_pb2.GetAvatarResponse:
        """Returns one avatar."""
        return avatar_pb2.GetAvatarResponse(avatar=convert.avatar_message(await self._row(request.name)))

    async def DeleteAvatar(
        self, request: avatar_pb2.DeleteAvatarRequest, context: Context
    ) -> avatar_pb2.DeleteAvatarResponse:
        """Deletes the avatar, its bytes once no avatar uses them, and gives its storage back to the plan."""
        tenant_id, avatar_id = validate.ids(request.name)
        require_tenant_access(tenant_id, request.name)
        deleted = await self._store.delete(tenant_id, avatar_id)
        if deleted is None:
            raise errors.NotFound(request.name)
        row, keys = deleted
        for key in keys:
            await self._store.release_if_unused(key, self._objects.delete)
        await self._quota.release_or_log(tenant_id, row.original_size_bytes)
        return avatar_pb2.DeleteAvatarResponse()

    async def ListAnimations(
        self, request: avatar_pb2.ListAnimationsRequest, context: Context
    ) -> avatar_pb2.ListAnimationsResponse:
        """The behaviour library, with what the default avatar and (optionally) one avatar can play."""
        default = {e["behaviour"] for e in self._default.animation_map.get("entries", [])}
        own: set[str] = set()
        if request.avatar:
            row = await self._row(request.avatar, field="avatar")
            own = {e["behaviour"] for e in row.animation_map.get("entries", [])}
        return avatar_pb2.ListAnimationsResponse(
            animations=[
                avatar_pb2.Animation(
                    behaviour=b.value,
                    description=b.description,
                    default_avatar_supported=b.name in default,
                    avatar_supported=b.name in own,
                )
                for b in BEHAVIOURS
            ]
        )

    async def UpdateAnimationMap(
        self, request: avatar_pb2.UpdateAnimationMapRequest, context: Context
    ) -> avatar_pb2.UpdateAnimationMapResponse:
        """Replaces the masked parts of the map (checked against the model) or resets it to the automatic one."""
        name = request.animation_map.name
        tenant_id, avatar_id = validate.ids(name, validate.MAP_PATTERN, "animation_map.name")
        require_tenant_access(tenant_id, name)
        if not request.reset_to_auto:
            animation_maps.update_paths(request.update_mask)

        def change(row: AvatarRow) -> dict[str, Any]:
            edited = animation_maps.edited_map(row.animation_map, _auto(row), request, row.clips, row.morph_targets)
            return {"animation_map": edited}

        row = await self._store.modify(tenant_id, avatar_id, change)
        if row is None:
            raise errors.NotFound(name)
        return avatar_pb2.UpdateAnimationMapResponse(
            animation_map=convert.map_message(row.animation_map, name, row.clips)
        )

    async def ValidateAvatar(
        self, request: avatar_pb2.ValidateAvatarRequest, context: Context
    ) -> avatar_pb2.ValidateAvatarResponse:
        """Validates a stored avatar again (saving report and state) or an inline model (saving nothing)."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        source = request.WhichOneof("source")
        if source == "content":
            if not request.content:
                raise errors.InvalidArgument.field("content", "required: the bytes of a .glb file")
            if len(request.content) > validate.MAX_INLINE_BYTES:
                raise errors.InvalidArgument.field(
                    "content", "at most 3 MiB inline; upload larger models and validate them by name"
                )
            analysis = await analyse(request.content)
            return avatar_pb2.ValidateAvatarResponse(
                report=convert.report_message(analysis.report),
                clips=convert.clip_messages(analysis.clips),
                morph_targets=convert.morph_messages(analysis.morph_targets),
            )
        if source != "avatar":
            raise errors.InvalidArgument.field("source", "set avatar (a stored avatar's name) or content (a model)")
        avatar_tenant, avatar_id = validate.ids(request.avatar, field="avatar")
        if avatar_tenant != tenant_id:
            raise errors.NotFound(request.avatar)
        row = await self._row(request.avatar, field="avatar")
        if row.state == "optimizing":
            raise errors.FailedPrecondition(
                f"{request.avatar} is OPTIMIZING; validate it when the job has ended",
                metadata={"resource": request.avatar, "state": "AVATAR_STATE_OPTIMIZING"},
            )
        analysis = await analyse(await self._objects.get(model_key(row.content_sha256)))

        def change(current: AvatarRow) -> dict[str, Any]:
            if current.state == "optimizing":
                return {}
            return {"report": analysis.report, "state": analysis.state}

        updated = await self._store.modify(tenant_id, avatar_id, change)
        if updated is None:
            raise errors.NotFound(request.avatar)
        return avatar_pb2.ValidateAvatarResponse(
            report=convert.report_message(analysis.report),
            clips=convert.clip_messages(analysis.clips),
            morph_targets=convert.morph_messages(analysis.morph_targets),
        )

    async def GetPreview(
        self, request: avatar_pb2.GetPreviewRequest, context: Context
    ) -> avatar_pb2.GetPreviewResponse:
        """The preview image's state and URL."""
        row = await self._row(request.name, validate.PREVIEW_PATTERN)
        name = convert.avatar_name(row.tenant_id, row.id)
        return avatar_pb2.GetPreviewResponse(preview=convert.preview_message(row, name))

    async def OptimizeAvatar(
        self, request: avatar_pb2.OptimizeAvatarRequest, context: Context
    ) -> avatar_pb2.OptimizeAvatarResponse:
        """Marks a READY avatar OPTIMIZING and queues the job (outbox, same transaction)."""
        tenant_id, avatar_id = validate.ids(request.name)
        require_tenant_access(tenant_id, request.name)
        options = validate.optimization_options(request)
        job_id = str(uuid.uuid4())

        def change(row: AvatarRow) -> dict[str, Any]:
            if row.state != "ready":
                state = convert.STATES[row.state]
                raise errors.FailedPrecondition(
                    f"{request.name} is {avatar_pb2.AvatarState.Name(state)}; only READY avatars can be optimized",
                    metadata={"resource": request.name, "state": avatar_pb2.AvatarState.Name(state)},
                )
            job = {
                "job_id": job_id,
                "state": "running",
                "options": json_format.MessageToDict(
                    options, preserving_proto_field_name=True, use_integers_for_enums=True
                ),
                "error": "",
                "start_time": datetime.now(UTC).isoformat(),
            }
            return {"state": "optimizing", "optimization": job}

        row = await self._store.modify(tenant_id, avatar_id, change, event=(OPTIMIZE_REQUESTED, {"job_id": job_id}))
        if row is None:
            raise errors.NotFound(request.name)
        return avatar_pb2.OptimizeAvatarResponse(avatar=convert.avatar_message(row))

    async def GetDefaultAvatar(
        self, request: avatar_pb2.GetDefaultAvatarRequest, context: Context
    ) -> avatar_pb2.GetDefaultAvatarResponse:
        """The platform's generated default avatar."""
        return avatar_pb2.GetDefaultAvatarResponse(avatar=convert.avatar_message(self._default, convert.DEFAULT_NAME))
