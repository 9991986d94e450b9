"""Avatars of chatbots: the avatar directory against real gRPC servers, and AssignAvatar/GetEmbedConfig end to end."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from avatarchat.ai.v1 import ai_pb2
from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.chatbot import embed_config
from services.chatbot.avatar_directory import AvatarDirectory
from services.chatbot.store import ChatbotRow
from services.chatbot.tenant_directory import TenantDefaults
from services.cli.catalog import RUNNABLE_SERVICES
from services.runtime import errors, status
from services.runtime.settings import RuntimeSettings
from services.runtime.tokens import ServiceTokens
from tests.conftest import free_port
from tests.errors_assert import expect_error
from tests.services.chatbot.avatar_upload import upload_ready_avatar
from tests.services.chatbot.conftest import create_bot
from tests.services.conftest import Stack, start_services

AVATAR_SERVER = Path(__file__).resolve().parents[3] / "services" / "avatar" / "server.py"
BASE_URL = "http://127.0.0.1:3008"
SECRET = "s" * 48
TENANT = uuid.UUID(int=7)


def _avatar(name: str, state: int, sha: str) -> avatar_pb2.Avatar:
    return avatar_pb2.Avatar(
        name=name,
        state=state,  # type: ignore[arg-type]
        model_url=f"/models/{sha}.glb",
        preview=avatar_pb2.Preview(state=avatar_pb2.PREVIEW_STATE_READY, url=f"/models/{sha}.preview.png"),
        animation_map=avatar_pb2.AnimationMap(
            entries=[
                avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_IDLE, clip="Idle"),
                avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_GREET, clip="Wave"),
                avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_HAPPY, morph_target="smile"),
            ],
            viseme_morphs={"aa": "viseme_aa", "PP": "viseme_PP"},
        ),
    )


READY = _avatar(f"tenants/{TENANT}/avatars/{uuid.UUID(int=1)}", avatar_pb2.AVATAR_STATE_READY, "a" * 64)
BROKEN = _avatar(f"tenants/{TENANT}/avatars/{uuid.UUID(int=2)}", avatar_pb2.AVATAR_STATE_INVALID, "b" * 64)
DEFAULT = _avatar("avatars/default", avatar_pb2.AVATAR_STATE_READY, "d" * 64)
MISSING = f"tenants/{TENANT}/avatars/{uuid.UUID(int=3)}"


class FakeAvatarService:
    """GetAvatar and GetDefaultAvatar of a stand-in avatar service; records who called."""

    def __init__(self) -> None:
        self.tokens = ServiceTokens(SECRET, "avatar-fake")
        self.callers: list[uuid.UUID | None] = []

    def _caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        auth = dict(context.invocation_metadata() or ()).get("authorization", "")
        self.callers.append(self.tokens.verify(str(auth).removeprefix("Bearer ")).tenant_id)

    async def get(self, request: avatar_pb2.GetAvatarRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self._caller(context)
        for avatar in (READY, BROKEN):
            if avatar.name == request.name:
                return avatar_pb2.GetAvatarResponse(avatar=avatar)
        await context.abort_with_status(status.to_status(errors.NotFound(request.name), "avatarchat.avatar"))
        return None

    async def default(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self._caller(context)
        return avatar_pb2.GetDefaultAvatarResponse(avatar=DEFAULT)

    def handler(self) -> grpc.GenericRpcHandler:
        """The two methods as a generic handler for avatarchat.avatar.v1.AvatarService."""
        return grpc.method_handlers_generic_handler(
            "avatarchat.avatar.v1.AvatarService",
            {
                "GetAvatar": grpc.unary_unary_rpc_method_handler(
                    self.get,
                    request_deserializer=avatar_pb2.GetAvatarRequest.FromString,
                    response_serializer=avatar_pb2.GetAvatarResponse.SerializeToString,
                ),
                "GetDefaultAvatar": grpc.unary_unary_rpc_method_handler(
                    self.default,
                    request_deserializer=avatar_pb2.GetDefaultAvatarRequest.FromString,
                    response_serializer=avatar_pb2.GetDefaultAvatarResponse.SerializeToString,
                ),
            },
        )


async def _directory_on(server: grpc.aio.Server | None) -> tuple[AvatarDirectory, grpc.aio.Channel]:
    port = free_port()
    if server is not None:
        port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = avatar_pb2_grpc.AvatarServiceStub(channel)
    return AvatarDirectory(stub, ServiceTokens(SECRET, "chatbot"), timeout=2.0), channel


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures the avatar directory's warnings."""
    with caplog.at_level(logging.WARNING, logger="services.chatbot.avatar_directory"):
        yield caplog


@pytest.mark.parametrize("kind", ["nothing listening", "no AvatarService (UNIMPLEMENTED)"])
async def test_avatar_directory_degrades_when_the_avatar_service_is_absent(
    kind: str, warnings_logged: pytest.LogCaptureFixture
) -> None:
    server = grpc.aio.server() if kind.startswith("no ") else None
    directory, channel = await _directory_on(server)
    try:
        assert await directory.for_embed(TENANT, READY.name) is None
        assert await directory.for_embed(TENANT, "") is None
        await directory.check_assignable(TENANT, READY.name)  # accepted unchecked
    finally:
        await channel.close()
        if server is not None:
            await server.stop(0)
    assert any("avatar service down" in r.getMessage() for r in warnings_logged.records)


async def test_avatar_directory_against_an_answering_avatar_service() -> None:
    fake = FakeAvatarService()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([fake.handler()])
    directory, channel = await _directory_on(server)
    try:
        assert await directory.for_embed(TENANT, READY.name) == READY
        assert await directory.for_embed(TENANT, BROKEN.name) == DEFAULT  # unusable: the default stands in
        assert await directory.for_embed(TENANT, MISSING) == DEFAULT  # deleted since it was assigned
        assert await directory.for_embed(TENANT, "") == DEFAULT
        await directory.check_assignable(TENANT, READY.name)
        with pytest.raises(errors.FailedPrecondition, match="INVALID"):
            await directory.check_assignable(TENANT, BROKEN.name)
        with pytest.raises(errors.NotFound):
            await directory.check_assignable(TENANT, MISSING)
    finally:
        await channel.close()
        await server.stop(0)
    assert fake.callers
    assert set(fake.callers) == {TENANT}  # always as this service, scoped to the chatbot's tenant


def test_embed_config_carries_the_avatar_for_the_browser() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    row = ChatbotRow(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        display_name="Bot",
        state="active",
        embed_id="emb_" + "x" * 22,
        avatar=READY.name,
        knowledge_bases=[],
        personality={"instructions": "hidden"},
        placement={},
        visitor_secret_rotate_time=None,
        create_time=now,
        update_time=now,
    )
    config = embed_config.build(row, READY, TenantDefaults(), BASE_URL)
    assert config.avatar_model_url == f"{BASE_URL}/models/{'a' * 64}.glb"
    assert config.avatar_thumbnail_url == f"{BASE_URL}/models/{'a' * 64}.preview.png"
    assert [(a.behaviour, a.clip) for a in config.animations] == [
        (ai_pb2.BEHAVIOUR_IDLE, "Idle"),
        (ai_pb2.BEHAVIOUR_GREET, "Wave"),
    ]
    assert dict(config.viseme_morphs) == {"aa": "viseme_aa", "PP": "viseme_PP"}
    without = embed_config.build(row, None, TenantDefaults(), BASE_URL)
    assert (without.avatar_model_url, list(without.animations)) == ("", [])
    assert without.config_version != config.config_version
    assert b"hidden" not in config.SerializeToString()


# --- With the real avatar service (runs once services/avatar/server.py exists) ---------------------------------


@pytest.fixture
async def avatar_stack(
    stack: Stack, settings: RuntimeSettings
) -> AsyncIterator[tuple[chatbot_pb2_grpc.ChatbotServiceAsyncStub, avatar_pb2_grpc.AvatarServiceAsyncStub]]:
    """ChatbotService and AvatarService stubs with both services running."""
    avatar_channel = grpc.aio.insecure_channel(settings.address_of("avatar"))
    if "avatar" in RUNNABLE_SERVICES:
        yield (
            chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot")),
            avatar_pb2_grpc.AvatarServiceStub(avatar_channel),
        )
        await avatar_channel.close()
        return
    # Not in the stack yet: start it here, with a chatbot host of its own whose channels are fresh (the
    # stack's chatbot service has been backing off from the absent avatar address).
    from services.chatbot import server as chatbot_server

    avatar_hosts = await start_services(settings, ("avatar",))
    chatbot_host = await chatbot_server.build(chatbot_server.SETTINGS(**settings.model_dump()), port=0)
    port = await chatbot_host.start()
    chatbot_channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield chatbot_pb2_grpc.ChatbotServiceStub(chatbot_channel), avatar_pb2_grpc.AvatarServiceStub(avatar_channel)
    finally:
        await chatbot_channel.close()
        await avatar_channel.close()
        await chatbot_host.stop(0.5)
        for host in avatar_hosts:
            await host.stop(0.5)


@pytest.mark.skipif(
    not AVATAR_SERVER.exists(), reason="the avatar service (services/avatar/server.py) is not written yet"
)
async def test_embed_config_with_the_real_avatar_service(
    stack: Stack,
    avatar_stack: tuple[chatbot_pb2_grpc.ChatbotServiceAsyncStub, avatar_pb2_grpc.AvatarServiceAsyncStub],
) -> None:
    chatbots, avatars = avatar_stack
    account = await stack.new_tenant("avatar-up")
    md = account.metadata
    avatar = await upload_ready_avatar(avatars, account)
    bot = await create_bot(chatbots, account)
    missing = f"{account.tenant}/avatars/{uuid.uuid4()}"
    await expect_error(
        chatbots.AssignAvatar(chatbot_pb2.AssignAvatarRequest(name=bot.name, avatar=missing), metadata=md),
        grpc.StatusCode.NOT_FOUND,
    )
    assigned = await chatbots.AssignAvatar(
        chatbot_pb2.AssignAvatarRequest(name=bot.name, avatar=avatar.name), metadata=md
    )
    assert assigned.chatbot.avatar == avatar.name
    # Another tenant's avatar is as unknown as a missing one; the platform's default is not assigned by name.
    theirs = await upload_ready_avatar(avatars, await stack.new_tenant("avatar-up-other"))
    await expect_error(
        chatbots.AssignAvatar(chatbot_pb2.AssignAvatarRequest(name=bot.name, avatar=theirs.name), metadata=md),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        chatbots.AssignAvatar(chatbot_pb2.AssignAvatarRequest(name=bot.name, avatar="avatars/default"), metadata=md),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields={"avatar"},
    )

    config = (await chatbots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert config.avatar_model_url == embed_config.public_url(BASE_URL, avatar.model_url)
    assert config.avatar_model_url.endswith(".glb")
    expected_clips = [(e.behaviour, e.clip) for e in avatar.animation_map.entries if e.WhichOneof("target") == "clip"]
    assert [(a.behaviour, a.clip) for a in config.animations] == expected_clips
    assert dict(config.viseme_morphs) == dict(avatar.animation_map.viseme_morphs)

    # A chatbot without an avatar of its own shows the platform's default avatar.
    plain = await create_bot(chatbots, account, "Plain")
    default = (await avatars.GetDefaultAvatar(avatar_pb2.GetDefaultAvatarRequest(), metadata=md)).avatar
    plain_config = (
        await chatbots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=plain.embed_id))
    ).embed_config
    assert plain_config.avatar_model_url == embed_config.public_url(BASE_URL, default.model_url)
    assert plain_config.avatar_model_url
    # Clearing the bot's own avatar brings the default back.
    cleared = await chatbots.AssignAvatar(chatbot_pb2.AssignAvatarRequest(name=bot.name), metadata=md)
    assert cleared.chatbot.avatar == ""
    back = (await chatbots.GetEmbedConfig(chatbot_pb2.GetEmbedConfigRequest(embed_id=bot.embed_id))).embed_config
    assert back.avatar_model_url == plain_config.avatar_model_url
