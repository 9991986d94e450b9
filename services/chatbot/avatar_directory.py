"""What the chatbot service asks the avatar service: whether an avatar may be assigned, and what to show."""

from __future__ import annotations

import logging
import uuid

import grpc

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from services.runtime import errors, status
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)

#: Answers meaning "the avatar service is not there (yet)": chatbots keep working without avatar data.
DEGRADED_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED}
)
#: States in which a model can be shown (an optimizing avatar keeps serving its original model).
USABLE_STATES = frozenset({avatar_pb2.AVATAR_STATE_READY, avatar_pb2.AVATAR_STATE_OPTIMIZING})


class AvatarServiceDown(Exception):
    """The avatar service answered with one of DEGRADED_CODES."""


class AvatarDirectory:
    """Calls AvatarService as this service for one tenant; degrades instead of failing when it is down."""

    def __init__(self, stub: avatar_pb2_grpc.AvatarServiceAsyncStub, tokens: ServiceTokens, timeout: float) -> None:
        self._stub = stub
        self._tokens = tokens
        self._timeout = timeout

    async def _get(self, tenant_id: uuid.UUID, name: str) -> avatar_pb2.Avatar:
        try:
            response = await self._stub.GetAvatar(
                avatar_pb2.GetAvatarRequest(name=name), metadata=self._tokens.metadata(tenant_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in DEGRADED_CODES:
                raise AvatarServiceDown(exc.code().name) from None
            raise status.from_rpc_error(exc) from None
        return response.avatar

    async def _default(self, tenant_id: uuid.UUID) -> avatar_pb2.Avatar:
        try:
            response = await self._stub.GetDefaultAvatar(
                avatar_pb2.GetDefaultAvatarRequest(), metadata=self._tokens.metadata(tenant_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in DEGRADED_CODES:
                raise AvatarServiceDown(exc.code().name) from None
            raise status.from_rpc_error(exc) from None
        return response.avatar

    async def check_assignable(self, tenant_id: uuid.UUID, name: str) -> None:
        """NOT_FOUND when the avatar does not exist, FAILED_PRECONDITION unless it is usable."""
        try:
            avatar = await self._get(tenant_id, name)
        except AvatarServiceDown as down:
            # Accepted unchecked: GetEmbedConfig falls back to the default avatar for anything that later
            # turns out missing or unusable, so a down avatar service need not block editing chatbots.
            log.warning("avatar service down; assigning unchecked", extra={"avatar": name, "code": str(down)})
            return
        if avatar.state not in USABLE_STATES:
            state = avatar_pb2.AvatarState.Name(avatar.state)
            raise errors.FailedPrecondition(
                f"{name} is {state}; only READY avatars can be assigned", metadata={"resource": name, "state": state}
            )

    async def for_embed(self, tenant_id: uuid.UUID, name: str) -> avatar_pb2.Avatar | None:
        """The avatar the widget shows: `name` when usable, else the platform default; None when the service is down."""
        try:
            if name:
                try:
                    avatar = await self._get(tenant_id, name)
                except errors.NotFound:
                    avatar = None  # deleted since it was assigned: the default avatar stands in
                if avatar is not None and avatar.state in USABLE_STATES:
                    return avatar
            return await self._default(tenant_id)
        except AvatarServiceDown as down:
            log.warning("avatar service down; embed config without avatar", extra={"avatar": name, "code": str(down)})
            return None
        except errors.ServiceError as exc:
            # The public widget must still load; an odd avatar answer costs only the 3D model.
            log.warning("avatar lookup failed; embed config without avatar", extra={"avatar": name, "error": str(exc)})
            return None
