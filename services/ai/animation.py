"""Picks the avatar's behaviour from sentiment and intent, with hysteresis, and resolves it to the avatar's clip."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from avatarchat.ai.v1 import ai_pb2
from avatarchat.avatar.v1 import avatar_pb2
from services.ai.intent import Intent
from services.ai.providers.base import FinishReason


class Behaviour(enum.StrEnum):
    """What the avatar expresses (ai.v1 Behaviour without its prefix, lower case)."""

    IDLE = "idle"
    TALK = "talk"
    LISTEN = "listen"
    THINK = "think"
    GREET = "greet"
    NOD = "nod"
    SHAKE = "shake"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISED = "surprised"
    ANGRY = "angry"
    CONFUSED = "confused"
    THUMBS_UP = "thumbs_up"
    SHRUG = "shrug"
    POINT = "point"
    BOW = "bow"
    LAUGH = "laugh"
    CELEBRATE = "celebrate"
    GOODBYE = "goodbye"
    EXCITED = "excited"

    def to_proto(self) -> ai_pb2.Behaviour.ValueType:
        """As an ai.v1 Behaviour."""
        return ai_pb2.Behaviour.Value(f"BEHAVIOUR_{self.name}")

    @classmethod
    def from_proto(cls, value: ai_pb2.Behaviour.ValueType) -> Behaviour | None:
        """From an ai.v1 Behaviour; None for UNSPECIFIED."""
        name = ai_pb2.Behaviour.Name(value).removeprefix("BEHAVIOUR_")
        return None if name == "UNSPECIFIED" else cls[name]


class Mood(enum.Enum):
    """The valence a behaviour expresses; hysteresis acts between moods."""

    NEGATIVE = -1
    NEUTRAL = 0
    POSITIVE = 1


_MOOD_OF = {
    Behaviour.HAPPY: Mood.POSITIVE,
    Behaviour.EXCITED: Mood.POSITIVE,
    Behaviour.LAUGH: Mood.POSITIVE,
    Behaviour.CELEBRATE: Mood.POSITIVE,
    Behaviour.SAD: Mood.NEGATIVE,
}
#: Momentary gestures answer an intent at once; they are not moods and skip hysteresis.
GESTURES = frozenset(
    {Behaviour.GREET, Behaviour.GOODBYE, Behaviour.NOD, Behaviour.THUMBS_UP, Behaviour.SHRUG, Behaviour.BOW}
)
#: What to play instead when the avatar has no clip for a behaviour, before the talk/idle last resort.
_STAND_INS: dict[Behaviour, tuple[Behaviour, ...]] = {
    Behaviour.EXCITED: (Behaviour.HAPPY, Behaviour.CELEBRATE),
    Behaviour.LAUGH: (Behaviour.HAPPY,),
    Behaviour.CELEBRATE: (Behaviour.EXCITED, Behaviour.HAPPY),
    Behaviour.THUMBS_UP: (Behaviour.NOD, Behaviour.HAPPY),
    Behaviour.GOODBYE: (Behaviour.GREET, Behaviour.BOW),
    Behaviour.GREET: (Behaviour.BOW, Behaviour.HAPPY),
    Behaviour.BOW: (Behaviour.NOD,),
    Behaviour.CONFUSED: (Behaviour.SHRUG, Behaviour.THINK),
    Behaviour.SHRUG: (Behaviour.CONFUSED,),
    Behaviour.SURPRISED: (Behaviour.EXCITED,),
    Behaviour.ANGRY: (Behaviour.SHAKE,),
}
_SILENT = frozenset({Behaviour.IDLE, Behaviour.LISTEN, Behaviour.THINK})


@dataclass(frozen=True, slots=True)
class HysteresisPolicy:
    """When the avatar's mood may change (a Schmitt trigger on the sentiment score, plus a hold time)."""

    enter: float = 0.3
    """Score magnitude that moves a neutral avatar into a positive or negative mood."""
    exit: float = 0.1
    """How far past neutral, on the other side, a score must go to leave a mood."""
    min_hold_seconds: float = 2.0
    """A mood shown for less than this changes only on a strong signal."""
    strong: float = 0.6
    """Score magnitude that counts as a clear change and overrides the hold time."""


@dataclass(frozen=True, slots=True)
class AnimationChoice:
    """The behaviour to show and the avatar's clip that plays it."""

    behaviour: Behaviour
    clip: str
    """The avatar's clip; empty when it has none, not even for talk or idle."""
    clip_behaviour: Behaviour | None
    """The behaviour whose clip was taken (a stand-in when the avatar lacks the chosen one's)."""
    intensity: float
    changed: bool


def select_animation(
    score: float,
    intent: Intent,
    animation_map: Mapping[Behaviour, str],
    *,
    previous: Behaviour | None = None,
    previous_elapsed: float = 0.0,
    policy: HysteresisPolicy | None = None,
) -> AnimationChoice:
    """The behaviour for a message's sentiment score and intent, kept steady by hysteresis."""
    policy = policy or HysteresisPolicy()
    gesture = _gesture_for(intent, score)
    if gesture is not None:
        return _choose(gesture, 1.0, previous, animation_map)
    strength = abs(score)
    if intent is Intent.COMPLAINT:
        # A complaint is met with sympathy however politely it is worded.
        score, strength = min(score, -policy.strong), max(strength, policy.strong)
    current = _MOOD_OF.get(previous, Mood.NEUTRAL) if previous is not None else Mood.NEUTRAL
    mood = _next_mood(current, score, policy)
    # Only a showing mood (or plain talk) is held; listen, think and idle give way to any mood at once.
    held_briefly = (previous in _MOOD_OF or previous is Behaviour.TALK) and previous_elapsed < policy.min_hold_seconds
    if mood is not current and held_briefly and strength < policy.strong:
        mood = current
    if mood is current and previous in _MOOD_OF:
        return _choose(previous, max(strength, 0.3), previous, animation_map)
    behaviour = {Mood.POSITIVE: Behaviour.HAPPY, Mood.NEGATIVE: Behaviour.SAD, Mood.NEUTRAL: Behaviour.TALK}[mood]
    if behaviour is Behaviour.HAPPY and score >= 0.8 and intent is Intent.SMALL_TALK:
        behaviour = Behaviour.LAUGH
    return _choose(behaviour, max(strength, 0.3) if mood is not Mood.NEUTRAL else 0.5, previous, animation_map)


def behaviour_for_finish(finish_reason: FinishReason) -> Behaviour | None:
    """A gesture for how an answer ended: a shrug for a fallback, a nod for a handoff, a head shake for a refusal."""
    return {
        FinishReason.FALLBACK: Behaviour.SHRUG,
        FinishReason.HANDOFF: Behaviour.NOD,
        FinishReason.CONTENT_FILTER: Behaviour.SHAKE,
    }.get(finish_reason)


def resolve_clip(behaviour: Behaviour, animation_map: Mapping[Behaviour, str]) -> tuple[str, Behaviour | None]:
    """The avatar's clip for a behaviour: its own, a stand-in's, else talk's (while speaking) or idle's."""
    last_resort = (Behaviour.IDLE,) if behaviour in _SILENT else (Behaviour.TALK, Behaviour.IDLE)
    for candidate in (behaviour, *_STAND_INS.get(behaviour, ()), *last_resort):
        clip = animation_map.get(candidate, "")
        if clip:
            return clip, candidate
    return "", None


def animation_map_from_proto(entries: Iterable[avatar_pb2.AnimationMapEntry]) -> dict[Behaviour, str]:
    """The clip entries of an avatar's AnimationMap (morph-target entries are not clips)."""
    mapped: dict[Behaviour, str] = {}
    for entry in entries:
        behaviour = Behaviour.from_proto(entry.behaviour)
        if behaviour is not None and entry.WhichOneof("target") == "clip" and entry.clip:
            mapped[behaviour] = entry.clip
    return mapped


def _gesture_for(intent: Intent, score: float) -> Behaviour | None:
    if intent is Intent.GREETING:
        return Behaviour.GREET
    if intent is Intent.GOODBYE:
        return Behaviour.GOODBYE
    if intent is Intent.HANDOFF_REQUEST:
        return Behaviour.NOD
    if intent is Intent.PURCHASE and score > -0.05:
        return Behaviour.THUMBS_UP
    return None


def _next_mood(current: Mood, score: float, policy: HysteresisPolicy) -> Mood:
    """Schmitt trigger: enter a mood past ±enter, leave it only past ∓exit on the other side of neutral."""
    if score >= policy.enter:
        return Mood.POSITIVE
    if score <= -policy.enter:
        return Mood.NEGATIVE
    if current is Mood.POSITIVE:
        return Mood.NEUTRAL if score < -policy.exit else Mood.POSITIVE
    if current is Mood.NEGATIVE:
        return Mood.NEUTRAL if score > policy.exit else Mood.NEGATIVE
    return Mood.NEUTRAL


def _choose(
    behaviour: Behaviour, intensity: float, previous: Behaviour | None, animation_map: Mapping[Behaviour, str]
) -> AnimationChoice:
    clip, clip_behaviour = resolve_clip(behaviour, animation_map)
    return AnimationChoice(
        behaviour=behaviour,
        clip=clip,
        clip_behaviour=clip_behaviour,
        intensity=round(min(max(intensity, 0.0), 1.0), 3),
        changed=behaviour is not previous,
    )
