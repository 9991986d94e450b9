"""Splits clip and morph target names into lowercase words, whatever tool named them."""

from __future__ import annotations

import re

#: Words tools add to clip names that say nothing about the motion ("Take 001", "mixamo.com|Idle", "Armature|Wave").
FILLER_WORDS = frozenset(
    {
        "take", "anim", "anims", "animation", "animations", "action", "clip", "armature", "rig", "mixamo", "com",
        "mixamorig", "layer", "base", "loop", "looped", "looping", "default", "root", "scene", "track", "the",
        "character", "avatar", "robot", "man", "woman", "male", "female", "human", "inplace", "baked", "final",
    }
)  # fmt: skip

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
#: Longest name looked at; names are labels, and a megabyte-long one must not cost regex time.
_MAX_NAME = 200


def base_name(name: str, separators: str = "|:") -> str:
    """The part after the last separator, e.g. "Idle" of "mixamo.com|Idle"; the whole name if that part is empty."""
    tail = name
    for separator in separators:
        tail = tail.rsplit(separator, 1)[-1]
    return tail if tail.strip() else name


def words(name: str) -> list[str]:
    """The lowercase words of a name split at separators, camelCase and digits; digit-only words are dropped."""
    spaced = _CAMEL.sub(" ", name[:_MAX_NAME])
    return [word.lower() for word in _SEPARATORS.split(spaced) if word and not word.isdigit()]


def clip_words(name: str) -> tuple[str, ...]:
    """The words of a clip name that describe the motion: no exporter prefix, numbering or filler."""
    return tuple(word for word in words(base_name(name)) if word not in FILLER_WORDS)


def morph_words(name: str) -> tuple[str, ...]:
    """The words of a morph target name, without a mesh or namespace prefix ("Head.mouthOpen" → mouth, open)."""
    return tuple(words(base_name(name, "|:.")))
