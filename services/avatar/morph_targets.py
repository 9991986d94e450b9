"""Recognises morph targets: facial expressions (ARKit, VRM, generic) and visemes (Oculus, VRM) for lip sync."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from services.avatar.name_tokens import base_name, morph_words

MorphKind = Literal["expression", "viseme", "other"]

#: The Oculus viseme set, in its usual order; these short names are the keys of `AnimationMap.viseme_morphs`.
OCULUS_VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
_OCULUS_BY_LOWER = {viseme.lower(): viseme for viseme in OCULUS_VISEMES}
#: "viseme_aa" (Oculus, Ready Player Me), "v_aa" and "vrc.v_aa" (VRChat).
_OCULUS_NAME = re.compile(r"(?:viseme|v)_(sil|pp|ff|th|dd|kk|ch|ss|nn|rr|aa|e|i|o|u)", re.IGNORECASE)
#: VRM 1.0 vowel expressions and VRM 0.x blend shape presets, mapped to the Oculus vowel they look like.
_VRM_VOWELS = {
    "aa": "aa",
    "ih": "I",
    "ou": "U",
    "ee": "E",
    "oh": "O",
    "a": "aa",
    "i": "I",
    "u": "U",
    "e": "E",
    "o": "O",
}
#: Vowels a single mouth-open morph stands in for when there are no viseme morphs: every syllable opens the mouth.
FALLBACK_VOWELS = ("aa", "E", "I", "O", "U")
#: Names of a morph that opens the mouth, best first.
_MOUTH_OPEN = (("mouth", "open"), ("jaw", "open"), ("open", "mouth"), ("open", "jaw"), ("mouth", "opened"))

#: The 52 ARKit face blend shapes.
ARKIT_BLENDSHAPES = frozenset(
    {
        "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
        "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
        "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
        "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
        "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
        "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
        "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
        "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
        "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
    }
)  # fmt: skip
_ARKIT_LOWER = frozenset(name.lower() for name in ARKIT_BLENDSHAPES)
#: Words that make a morph target a facial expression (ARKit parts, VRM presets, generic emotion names).
EXPRESSION_WORDS = frozenset(
    {
        "blink", "wink", "smile", "frown", "brow", "brows", "eyebrow", "cheek", "sneer", "pucker", "funnel",
        "squint", "dimple", "jaw", "tongue", "mouth", "lip", "lips", "eye", "eyes", "nose", "happy", "joy", "fun",
        "sad", "sorrow", "angry", "anger", "mad", "surprised", "surprise", "shock", "fear", "scared", "disgust",
        "disgusted", "relaxed", "neutral", "confused", "laugh", "cry", "pout", "grin", "kiss", "look",
    }
)  # fmt: skip


def _viseme_of(name: str) -> str | None:
    """The Oculus viseme a morph target is named for ("viseme_PP" → "PP", VRM "ou" → "U"), or None."""
    base = base_name(name, "|:")
    match = _OCULUS_NAME.fullmatch(base.rsplit(".", 1)[-1])
    if match:
        return _OCULUS_BY_LOWER[match.group(1).lower()]
    return _VRM_VOWELS.get(base.lower())


def classify_morph(name: str) -> MorphKind:
    """What a morph target is for, guessed from its name (`MorphTargetKind` of avatar.v1)."""
    if _viseme_of(name) is not None:
        return "viseme"
    base = base_name(name, "|:.")
    if base.lower() in _ARKIT_LOWER or EXPRESSION_WORDS.intersection(morph_words(name)):
        return "expression"
    return "other"


def mouth_open_morph(morph_targets: Sequence[str]) -> str | None:
    """The morph target that opens the mouth (mouthOpen, then jawOpen, ...), or None."""
    by_words: dict[tuple[str, ...], str] = {}
    for name in morph_targets:
        by_words.setdefault(morph_words(name), name)
    return next((by_words[words] for words in _MOUTH_OPEN if words in by_words), None)


def viseme_morphs(morph_targets: Sequence[str]) -> dict[str, str]:
    """The morph target for each Oculus viseme (keys "sil", "PP", ... "U") that the model has.

    Without any viseme morph, a mouth-open morph plays every vowel, so any avatar with a mouth morph can talk.
    """
    found: dict[str, str] = {}
    for oculus_only in (True, False):  # Oculus names win over VRM vowels when a model has both
        for name in morph_targets:
            viseme = _viseme_of(name)
            is_oculus = viseme is not None and _VRM_VOWELS.get(base_name(name, "|:").lower()) is None
            if viseme is not None and viseme not in found and is_oculus == oculus_only:
                found[viseme] = name
    if not found:
        mouth = mouth_open_morph(morph_targets)
        if mouth is not None:
            found = dict.fromkeys(FALLBACK_VOWELS, mouth)
    return {viseme: found[viseme] for viseme in OCULUS_VISEMES if viseme in found}
