"""Maps a model's own clip and morph target names to the behaviour library, whatever tool exported them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from services.avatar.behaviours import BEHAVIOURS, Behaviour
from services.avatar.morph_targets import MorphKind, classify_morph, viseme_morphs
from services.avatar.name_tokens import clip_words, morph_words

__all__ = ["BehaviourMap", "MapTarget", "MorphKind", "auto_map", "classify_morph", "viseme_morphs"]

MapTarget = tuple[Literal["clip", "morph"], str]

#: Single-word synonyms too common to match inside a longer name ("No" is shake, "No_Weapon_Idle" is not).
_EXACT_ONLY = frozenset(
    {"no", "yes", "hi", "hey", "bye", "like", "rest", "wait", "leave", "respect", "thank", "thanks", "shake", "mad"}
    | {"wow", "yay", "hype", "chat", "cheer", "clap", "dance", "neutral", "breathing", "attention", "point"}
)
#: Words that make a clip something else (locomotion, combat, poses) even if it contains a synonym.
_DISQUALIFYING = frozenset(
    {
        "death", "die", "dying", "dead", "hit", "hurt", "damage", "attack", "punch", "kick", "shoot", "shooting",
        "sword", "gun", "pistol", "rifle", "weapon", "run", "running", "walk", "walking", "sprint", "crouch",
        "crawl", "swim", "fall", "falling", "sit", "sitting", "lie", "lying", "sleep", "sleeping", "jump",
    }
)  # fmt: skip
#: Score of a clip whose words are exactly a synonym; containing one scores 5 less per extra word (ten: no match).
_EXACT, _CONTAINED = 100, 50


@dataclass(frozen=True)
class BehaviourMap:
    """Which clip or morph target plays each behaviour, and what is left over."""

    mapped: Mapping[str, MapTarget]
    """Behaviour name → ("clip", clip name) or ("morph", morph target name), in library order."""
    unmapped: tuple[str, ...]
    """Clip names no behaviour uses, in file order."""
    visemes: Mapping[str, str]
    """Oculus viseme name ("aa", "PP", ...) → morph target, for lip sync."""


def _synonym_index() -> dict[tuple[str, ...], list[str]]:
    """Each synonym's words → the behaviours it names."""
    index: dict[tuple[str, ...], list[str]] = {}
    for behaviour in BEHAVIOURS:
        for synonym in behaviour.synonyms:
            index.setdefault(tuple(synonym.split()), []).append(behaviour.name)
    return index


_SYNONYMS = _synonym_index()
_JOINED = {"".join(words): names for words, names in _SYNONYMS.items()}
_LONGEST = max(len(words) for words in _SYNONYMS)


def _clip_scores(words: tuple[str, ...]) -> dict[str, int]:
    """How well one clip's words match each behaviour: exact synonym, else a synonym inside the name."""
    if not words:
        return {}
    scores = dict.fromkeys(_JOINED.get("".join(words), ()), _EXACT)
    disqualified = bool(_DISQUALIFYING.intersection(words))
    for start in range(len(words)):
        for width in range(1, min(_LONGEST, len(words) - start) + 1):
            part = words[start : start + width]
            if (width == 1 and part[0] in _EXACT_ONLY) or (disqualified and not _DISQUALIFYING.intersection(part)):
                continue
            for name in _SYNONYMS.get(part, ()):
                scores[name] = max(scores.get(name, 0), _CONTAINED - 5 * (len(words) - width))
    return scores


def _best_morph(behaviour: Behaviour, morphs: Sequence[tuple[str, str]]) -> str | None:
    """The first morph target named exactly like one of the behaviour's expression names, or None."""
    wanted = {synonym.replace(" ", "") for synonym in behaviour.morph_synonyms}
    return next((name for name, joined in morphs if joined in wanted), None)


def auto_map(clips: Sequence[str], morph_targets: Sequence[str]) -> BehaviourMap:
    """Map clips (preferred) and expression morph targets to behaviours from their names."""
    best: dict[str, tuple[int, str]] = {}
    for name in clips:
        for behaviour_name, score in _clip_scores(clip_words(name)).items():
            if score > best.get(behaviour_name, (0, ""))[0]:  # ties keep the earlier clip
                best[behaviour_name] = (score, name)
    morph_index = [(name, "".join(morph_words(name))) for name in morph_targets]
    mapped: dict[str, MapTarget] = {}
    for behaviour in BEHAVIOURS:
        morph = None if behaviour.name in best else _best_morph(behaviour, morph_index)
        if behaviour.name in best:
            mapped[behaviour.name] = ("clip", best[behaviour.name][1])
        elif morph is not None:
            mapped[behaviour.name] = ("morph", morph)
    for behaviour in BEHAVIOURS:
        if behaviour.name not in mapped and behaviour.fallback in mapped:
            mapped[behaviour.name] = mapped[behaviour.fallback]
    ordered = {b.name: mapped[b.name] for b in BEHAVIOURS if b.name in mapped}
    used = {name for kind, name in ordered.values() if kind == "clip"}
    unmapped = tuple(dict.fromkeys(name for name in clips if name not in used))
    return BehaviourMap(mapped=ordered, unmapped=unmapped, visemes=viseme_morphs(morph_targets))
