"""SelectAnimation: behaviour from sentiment and intent, hysteresis against flicker, clip fallbacks."""

from __future__ import annotations

from avatarchat.ai.v1 import ai_pb2
from avatarchat.avatar.v1 import avatar_pb2
from services.ai.animation import (
    Behaviour,
    HysteresisPolicy,
    animation_map_from_proto,
    behaviour_for_finish,
    resolve_clip,
    select_animation,
)
from services.ai.intent import Intent
from services.ai.providers.base import FinishReason

FULL_MAP = {b: f"{b.value}_clip" for b in Behaviour}
BASIC_MAP = {Behaviour.IDLE: "Idle", Behaviour.TALK: "Talking", Behaviour.HAPPY: "Happy", Behaviour.GREET: "Wave"}


def test_intents_trigger_gestures() -> None:
    assert select_animation(0.4, Intent.GREETING, FULL_MAP).behaviour is Behaviour.GREET
    assert select_animation(0.0, Intent.GOODBYE, FULL_MAP).behaviour is Behaviour.GOODBYE
    assert select_animation(0.0, Intent.HANDOFF_REQUEST, FULL_MAP).behaviour is Behaviour.NOD
    assert select_animation(0.3, Intent.PURCHASE, FULL_MAP).behaviour is Behaviour.THUMBS_UP
    choice = select_animation(-0.5, Intent.COMPLAINT, FULL_MAP, previous=Behaviour.HAPPY, previous_elapsed=0.1)
    assert (choice.behaviour, choice.changed) == (Behaviour.SAD, True)


def test_sentiment_sets_the_mood_of_questions_and_small_talk() -> None:
    assert select_animation(0.0, Intent.QUESTION, FULL_MAP).behaviour is Behaviour.TALK
    assert select_animation(0.7, Intent.QUESTION, FULL_MAP).behaviour is Behaviour.HAPPY
    assert select_animation(-0.7, Intent.OTHER, FULL_MAP).behaviour is Behaviour.SAD
    assert select_animation(0.9, Intent.SMALL_TALK, FULL_MAP).behaviour is Behaviour.LAUGH


def test_one_slightly_different_message_does_not_flip_the_mood() -> None:
    happy = select_animation(0.7, Intent.QUESTION, FULL_MAP)
    assert happy.behaviour is Behaviour.HAPPY
    # Neutral-ish, even slightly negative, messages keep a happy avatar happy, however long it has shown.
    for score in (0.2, 0.04, -0.08):
        kept = select_animation(score, Intent.QUESTION, FULL_MAP, previous=happy.behaviour, previous_elapsed=10.0)
        assert (kept.behaviour, kept.changed) == (Behaviour.HAPPY, False)
    # A neutral avatar does not turn happy on a merely positive message.
    talk = select_animation(0.25, Intent.QUESTION, FULL_MAP, previous=Behaviour.TALK, previous_elapsed=10.0)
    assert (talk.behaviour, talk.changed) == (Behaviour.TALK, False)


def test_a_clear_change_switches_the_mood() -> None:
    sad = select_animation(-0.75, Intent.QUESTION, FULL_MAP, previous=Behaviour.HAPPY, previous_elapsed=0.5)
    assert (sad.behaviour, sad.changed) == (Behaviour.SAD, True)
    assert sad.intensity == 0.75
    back = select_animation(0.2, Intent.QUESTION, FULL_MAP, previous=Behaviour.SAD, previous_elapsed=5.0)
    assert (back.behaviour, back.changed) == (Behaviour.TALK, True)


def test_a_moderate_change_waits_for_the_hold_time() -> None:
    policy = HysteresisPolicy(min_hold_seconds=2.0)
    early = select_animation(
        0.45, Intent.QUESTION, FULL_MAP, previous=Behaviour.TALK, previous_elapsed=0.5, policy=policy
    )
    assert (early.behaviour, early.changed) == (Behaviour.TALK, False)
    later = select_animation(
        0.45, Intent.QUESTION, FULL_MAP, previous=Behaviour.TALK, previous_elapsed=3.0, policy=policy
    )
    assert (later.behaviour, later.changed) == (Behaviour.HAPPY, True)
    # Listening or thinking is no mood to hold: the first answer's mood shows at once.
    thinking = select_animation(0.45, Intent.QUESTION, FULL_MAP, previous=Behaviour.THINK, previous_elapsed=0.1)
    assert thinking.behaviour is Behaviour.HAPPY


def test_clips_fall_back_to_stand_ins_then_talk_or_idle() -> None:
    assert resolve_clip(Behaviour.EXCITED, BASIC_MAP) == ("Happy", Behaviour.HAPPY)
    assert resolve_clip(Behaviour.GOODBYE, BASIC_MAP) == ("Wave", Behaviour.GREET)
    assert resolve_clip(Behaviour.SAD, BASIC_MAP) == ("Talking", Behaviour.TALK)
    assert resolve_clip(Behaviour.THINK, BASIC_MAP) == ("Idle", Behaviour.IDLE)
    assert resolve_clip(Behaviour.SAD, {}) == ("", None)
    choice = select_animation(-0.8, Intent.OTHER, BASIC_MAP)
    assert (choice.behaviour, choice.clip, choice.clip_behaviour) == (Behaviour.SAD, "Talking", Behaviour.TALK)


def test_finish_reasons_and_protos() -> None:
    assert behaviour_for_finish(FinishReason.FALLBACK) is Behaviour.SHRUG
    assert behaviour_for_finish(FinishReason.HANDOFF) is Behaviour.NOD
    assert behaviour_for_finish(FinishReason.STOP) is None
    for behaviour in Behaviour:
        assert Behaviour.from_proto(behaviour.to_proto()) is behaviour
    assert Behaviour.from_proto(ai_pb2.BEHAVIOUR_UNSPECIFIED) is None
    entries = [
        avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_GREET, clip="Wave"),
        avatar_pb2.AnimationMapEntry(behaviour=ai_pb2.BEHAVIOUR_HAPPY, morph_target="mouthSmile"),
    ]
    assert animation_map_from_proto(entries) == {Behaviour.GREET: "Wave"}
