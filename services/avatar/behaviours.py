"""The standard behaviour library: what each `ai.v1.Behaviour` looks like and the names clips use for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from avatarchat.ai.v1 import ai_pb2


@dataclass(frozen=True)
class Behaviour:
    """One behaviour of the library."""

    name: str
    """The `ai.v1.Behaviour` enum name without prefix, lowercase, e.g. "thumbs_up"."""
    description: str
    """What it looks like and when chatbots play it (`Animation.description` of avatar.v1)."""
    synonyms: tuple[str, ...]
    """Words and phrases animation clips are named with for it, lowercase, words separated by spaces."""
    morph_synonyms: tuple[str, ...] = ()
    """Morph target names that can play it as a facial expression when no clip does."""
    fallback: str | None = None
    """A behaviour whose clip or morph also serves this one when the model has none of its own."""

    @property
    def enum_name(self) -> str:
        """The enum value's name, e.g. "BEHAVIOUR_THUMBS_UP"."""
        return f"BEHAVIOUR_{self.name.upper()}"

    @property
    def value(self) -> ai_pb2.Behaviour.ValueType:
        """The enum value."""
        return ai_pb2.Behaviour.Value(self.enum_name)


#: Every behaviour, in enum order.
BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "idle",
        "Resting: breathing and small shifts of weight while nothing happens.",
        ("idle", "idling", "breathing idle", "breathing", "rest", "resting", "neutral", "wait", "waiting"),
    ),
    Behaviour(
        "talk",
        "Speaking: light hand gestures while the answer is spoken; lip sync runs on top.",
        ("talk", "talking", "speak", "speaking", "conversation", "chat", "chatting", "explain", "explaining"),
    ),
    Behaviour(
        "listen",
        "Listening: an attentive pose with a slight head tilt while the visitor types or speaks.",
        ("listen", "listening", "attentive", "attention"),
    ),
    Behaviour(
        "think",
        "Thinking: hand to chin or eyes up while an answer is being generated.",
        ("think", "thinking", "ponder", "pondering", "thoughtful", "hmm", "consider", "considering"),
    ),
    Behaviour(
        "greet",
        "Greeting: a wave when a visitor opens the chat.",
        ("wave", "waving", "greet", "greeting", "hello", "hi", "hey", "wave hello", "hand wave", "salute"),
    ),
    Behaviour(
        "nod",
        "Nodding in agreement or to confirm.",
        ("nod", "nodding", "yes", "head nod", "nod yes", "agree", "agreeing", "agreement"),
    ),
    Behaviour(
        "shake",
        "Shaking the head to disagree or say no.",
        ("no", "shake", "head shake", "shake head", "shaking head", "headshake", "disagree", "disagreeing", "nope"),
    ),
    Behaviour(
        "happy",
        "Smiling or bouncing cheerfully when the news is good.",
        ("happy", "happiness", "joy", "joyful", "smile", "smiling", "cheerful"),
        morph_synonyms=("happy", "smile", "joy", "mouth smile", "fun"),
    ),
    Behaviour(
        "sad",
        "A sad face or drooping posture to show sympathy.",
        ("sad", "sadness", "sorrow", "unhappy", "upset", "depressed"),
        morph_synonyms=("sad", "sorrow", "frown", "mouth frown", "sadness"),
    ),
    Behaviour(
        "surprised",
        "Raised brows and an open mouth: reacting to something unexpected.",
        ("surprised", "surprise", "shock", "shocked", "astonished", "amazed", "wow"),
        morph_synonyms=("surprised", "surprise", "shock", "shocked"),
    ),
    Behaviour(
        "angry",
        "A frown or a firm stance for firm disapproval.",
        ("angry", "anger", "mad", "furious", "rage", "annoyed"),
        morph_synonyms=("angry", "anger", "mad", "furious"),
    ),
    Behaviour(
        "confused",
        "A puzzled look or a head scratch when the question is unclear.",
        ("confused", "confusion", "puzzled", "head scratch", "scratch head", "scratching head", "unsure"),
        morph_synonyms=("confused", "puzzled"),
    ),
    Behaviour(
        "thumbs_up",
        "A thumbs up to approve or to confirm that something worked.",
        ("thumbs up", "thumb up", "thumbsup", "like", "approve", "approval"),
    ),
    Behaviour(
        "shrug",
        "A shrug when the answer is not known.",
        ("shrug", "shrugging", "dunno", "dont know", "i dont know", "whatever"),
    ),
    Behaviour(
        "point",
        "Pointing at a link, a product or the page.",
        ("point", "pointing", "point forward", "point right", "point left", "gesture point"),
    ),
    Behaviour(
        "bow",
        "A polite bow to thank or to apologise.",
        ("bow", "bowing", "polite bow", "thank", "thanks", "thank you", "respect"),
    ),
    Behaviour(
        "laugh",
        "Laughing at a joke.",
        ("laugh", "laughing", "laughter", "giggle", "giggling", "chuckle"),
        morph_synonyms=("laugh", "laughing"),
        fallback="happy",
    ),
    Behaviour(
        "celebrate",
        "Cheering, clapping or dancing when something succeeded.",
        ("celebrate", "celebrating", "celebration", "victory", "cheer", "cheering", "clap", "clapping", "dance"),
    ),
    Behaviour(
        "goodbye",
        "Waving goodbye when the conversation ends.",
        ("goodbye", "good bye", "bye", "bye bye", "farewell", "wave goodbye", "see you", "leave"),
        fallback="greet",
    ),
    Behaviour(
        "excited",
        "Bouncing or jumping with excitement.",
        ("excited", "excitement", "exciting", "hype", "jump for joy", "jumping jacks", "yay"),
        fallback="celebrate",
    ),
)

#: Every behaviour by name.
BEHAVIOURS_BY_NAME: Mapping[str, Behaviour] = MappingProxyType({b.name: b for b in BEHAVIOURS})


def behaviour_for_value(value: int) -> Behaviour | None:
    """The library entry of an `ai.v1.Behaviour` value; None for BEHAVIOUR_UNSPECIFIED or unknown values."""
    if value not in ai_pb2.Behaviour.values():
        return None
    name = ai_pb2.Behaviour.Name(ai_pb2.Behaviour.ValueType(value)).removeprefix("BEHAVIOUR_").lower()
    return BEHAVIOURS_BY_NAME.get(name)
