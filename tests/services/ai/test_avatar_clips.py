"""The avatar's own clips reach the AI service's cues through the chatbot's embed config (real avatar service)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from google.protobuf import field_mask_pb2

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2_grpc
from tests.services.chatbot.glb_sample import sample_glb
from tests.services.conftest import Account, Stack
from tests.services.conversation.helpers import create_bot, eventually, send, start

#: A clip of the sample model; the platform's default avatar greets with its "greet" clip, so only the bot's own
#: avatar's map yields this one.
GREETING_CLIP = "Wave"


async def ready_avatar(avatars: avatar_pb2_grpc.AvatarServiceAsyncStub, account: Account) -> avatar_pb2.Avatar:
    """The sample model uploaded through the avatar service, once it has been validated."""
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

    uploaded = (await avatars.UploadAvatar(requests(), metadata=account.metadata)).avatar

    async def validated() -> avatar_pb2.Avatar | None:
        request = avatar_pb2.GetAvatarRequest(name=uploaded.name)
        avatar = (await avatars.GetAvatar(request, metadata=account.metadata)).avatar
        done = (avatar_pb2.AVATAR_STATE_READY, avatar_pb2.AVATAR_STATE_INVALID)
        return avatar if avatar.state in done else None

    avatar = await eventually(validated, 60)
    assert avatar.state == avatar_pb2.AVATAR_STATE_READY, avatar.validation_report
    return avatar


async def test_the_cues_name_the_clip_the_bots_own_avatar_maps_the_behaviour_to(stack: Stack) -> None:
    account = await stack.new_tenant("clips")
    md = account.metadata
    avatars = avatar_pb2_grpc.AvatarServiceStub(stack.channel("avatar"))
    avatar = await ready_avatar(avatars, account)
    entries = [
        avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_IDLE, clip="Idle"),
        avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_GREET, clip=GREETING_CLIP),
    ]
    await avatars.UpdateAnimationMap(
        avatar_pb2.UpdateAnimationMapRequest(
            animation_map=avatar_pb2.AnimationMap(name=f"{avatar.name}/animationMap", entries=entries),
            update_mask=field_mask_pb2.FieldMask(paths=["entries"]),
        ),
        metadata=md,
    )
    bot = await create_bot(stack, account)
    chatbots = chatbot_pb2_grpc.ChatbotServiceStub(stack.channel("chatbot"))
    await chatbots.AssignAvatar(chatbot_pb2.AssignAvatarRequest(name=bot.name, avatar=avatar.name), metadata=md)
    ai = ai_pb2_grpc.AiServiceStub(stack.channel("ai"))
    conversations = conversation_pb2_grpc.ConversationServiceStub(stack.channel("conversation"))

    selected = await ai.SelectAnimation(
        ai_pb2.SelectAnimationRequest(chatbot=bot.name, intent=ai_pb2.INTENT_GREETING), metadata=md
    )
    conversation = await start(conversations, bot.name, md)
    events = await send(conversations, conversation.name, "Hello there!", md)

    assert (selected.behaviour, selected.clip) == (ai_pb2.BEHAVIOUR_GREET, GREETING_CLIP)
    cues = [e.animation_cue for e in events if e.WhichOneof("event") == "animation_cue"]
    assert [c.clip for c in cues if c.behaviour == ai_pb2.BEHAVIOUR_GREET] == [GREETING_CLIP]
