"""The avatar's own clips reach the AI service's cues through the chatbot's embed config (real avatar service)."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.conversation.v1 import conversation_pb2_grpc
from tests.services.chatbot.avatar_upload import upload_ready_avatar
from tests.services.conftest import Stack
from tests.services.conversation.helpers import create_bot, send, start

#: A clip of the sample model; the platform's default avatar greets with its "greet" clip, so only the bot's own
#: avatar's map yields this one.
GREETING_CLIP = "Wave"


async def test_the_cues_name_the_clip_the_bots_own_avatar_maps_the_behaviour_to(stack: Stack) -> None:
    account = await stack.new_tenant("clips")
    md = account.metadata
    avatars = avatar_pb2_grpc.AvatarServiceStub(stack.channel("avatar"))
    avatar = await upload_ready_avatar(avatars, account)
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
