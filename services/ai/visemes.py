"""Lip-sync cues (Oculus visemes) from streamed English text by grapheme rules, deterministic and incremental."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from avatarchat.ai.v1 import ai_pb2

#: The Oculus viseme set, as ai.v1 VisemeCue names it.
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
VOWELS = frozenset({"aa", "E", "I", "O", "U"})

# Letter groups, longest first; word-initial and word-final ones are tried only there.
_INITIAL = {"kn": ("nn",), "wr": ("RR",), "ps": ("SS",), "gn": ("nn",), "gh": ("kk",)}
_FINAL = {"mb": ("PP",), "gh": ()}
_GROUPS = {
    "ough": ("O",),
    "augh": ("O",),
    "tion": ("CH", "E", "nn"),
    "sion": ("CH", "E", "nn"),
    "igh": ("aa", "I"),
    "tch": ("CH",),
    "dg": ("CH",),
    "gh": (),
    "th": ("TH",),
    "sh": ("CH",),
    "ch": ("CH",),
    "ph": ("FF",),
    "ng": ("nn",),
    "ck": ("kk",),
    "qu": ("kk", "U"),
    "wh": ("U",),
    "oo": ("U",),
    "ee": ("I",),
    "ea": ("I",),
    "ie": ("I",),
    "ai": ("E",),
    "ay": ("E",),
    "ei": ("E",),
    "ey": ("E",),
    "oa": ("O",),
    "ou": ("aa", "U"),
    "ow": ("O",),
    "oi": ("O", "I"),
    "oy": ("O", "I"),
    "au": ("O",),
    "aw": ("O",),
    "ew": ("U",),
    "ue": ("U",),
}
_LETTERS = {
    "a": ("aa",),
    "e": ("E",),
    "i": ("I",),
    "o": ("O",),
    "u": ("U",),
    "y": ("I",),
    "b": ("PP",),
    "m": ("PP",),
    "p": ("PP",),
    "f": ("FF",),
    "v": ("FF",),
    "d": ("DD",),
    "t": ("DD",),
    "n": ("nn",),
    "l": ("nn",),
    "k": ("kk",),
    "g": ("kk",),
    "q": ("kk",),
    "j": ("CH",),
    "s": ("SS",),
    "z": ("SS",),
    "x": ("kk", "SS"),
    "r": ("RR",),
    "w": ("U",),
    "h": (),
}
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SHORT_PAUSE = frozenset(",;:")
_LONG_PAUSE = frozenset(".!?\n")
# Not spoken: citation markers, links, markdown emphasis and code marks.
_UNSPOKEN = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]|https?://\S+|[*_#`>|~]")
_TOKEN = re.compile(r"[a-z]+|\d|[,;:.!?\n]")


@dataclass(frozen=True, slots=True)
class SpeakingRate:
    """How long each sound lasts; derived timings are whole milliseconds so they are reproducible."""

    consonant_ms: int = 65
    """A consonant's viseme."""
    vowel_ms: int = 110
    """A vowel's viseme."""
    short_pause_ms: int = 180
    """Silence at a comma, semicolon, colon or dash."""
    long_pause_ms: int = 380
    """Silence at the end of a sentence or line."""


@dataclass(frozen=True, slots=True)
class VisemeCue:
    """One mouth shape, timed from the start of the answer's speech."""

    viseme: str
    start_ms: int
    duration_ms: int

    def to_proto(self) -> ai_pb2.VisemeCue:
        """As an ai.v1 VisemeCue."""
        return self._fill(ai_pb2.VisemeCue())

    def add_to(self, cues: RepeatedCompositeFieldContainer[ai_pb2.VisemeCue]) -> None:
        """Appends itself to a repeated ai.v1 VisemeCue field, built in place.

        Half the cost of building a cue and copying it in, which every word of an answer pays several times.
        """
        self._fill(cues.add())

    def _fill(self, cue: ai_pb2.VisemeCue) -> ai_pb2.VisemeCue:
        cue.viseme = self.viseme
        cue.start_offset.seconds, ms = divmod(self.start_ms, 1000)
        cue.start_offset.nanos = ms * 1_000_000
        cue.duration.seconds, ms = divmod(self.duration_ms, 1000)
        cue.duration.nanos = ms * 1_000_000
        return cue


def word_visemes(word: str) -> list[str]:
    """The visemes of one lower-case ASCII word, by grapheme rules (a silent final e is dropped)."""
    if len(word) > 3 and word.endswith("e") and word[-2] not in "aeiouy":
        word = word[:-1]
    visemes: list[str] = []
    i = 0
    while i < len(word):
        shapes: tuple[str, ...] | None = None
        for size in (4, 3, 2):
            group = word[i : i + size]
            if len(group) < size:
                continue
            if i == 0 and group in _INITIAL:
                shapes = _INITIAL[group]
            elif i + size == len(word) and group in _FINAL:
                shapes = _FINAL[group]
            else:
                shapes = _GROUPS.get(group)
            if shapes is not None:
                i += size
                break
        if shapes is None:
            letter = word[i]
            # A doubled consonant is one sound ("ll", "ss"); c is soft before e, i and y.
            if i > 0 and letter == word[i - 1] and letter not in "aeiou":
                shapes = ()
            elif letter == "c":
                shapes = ("SS",) if word[i + 1 : i + 2] in ("e", "i", "y") else ("kk",)
            else:
                shapes = _LETTERS.get(letter, ())
            i += 1
        visemes.extend(shapes)
    return visemes


class VisemeStream:
    """Turns an answer's deltas into viseme cues; a word split across deltas is voiced once it completes.

    The cues depend only on the text, never on how it was split into deltas.
    """

    def __init__(self, rate: SpeakingRate | None = None) -> None:
        self._rate = rate or SpeakingRate()
        self._pending = ""
        self._clock_ms = 0
        # True after a pause and at the start, so the speech neither opens with nor stacks silences.
        self._silent = True

    @property
    def elapsed_ms(self) -> int:
        """Speech time of everything voiced so far."""
        return self._clock_ms

    def feed(self, delta: str) -> list[VisemeCue]:
        """Cues for the words this delta completes."""
        text = self._pending + delta
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        # Hold back an unfinished citation marker: "[1," must not be voiced as "one" and a pause.
        opened = text.rfind("[", 0, cut)
        if opened > text.rfind("]", 0, cut):
            cut = opened
        self._pending = text[cut:]
        return self._voice(text[:cut])

    def finish(self) -> list[VisemeCue]:
        """Cues for the rest of the text, closing with silence."""
        cues = self._voice(self._pending)
        self._pending = ""
        if not self._silent:
            cues.append(self._cue("sil", self._rate.consonant_ms))
        return cues

    def _voice(self, text: str) -> list[VisemeCue]:
        text = _UNSPOKEN.sub(" ", text).replace("–", ",").replace("—", ",")
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        cues: list[VisemeCue] = []
        for token in _TOKEN.findall(ascii_text):
            if token in _LONG_PAUSE or token in _SHORT_PAUSE:
                # One pause per break: "?!" or ".\n" is not two silences.
                if self._silent:
                    continue
                pause = self._rate.long_pause_ms if token in _LONG_PAUSE else self._rate.short_pause_ms
                cues.append(self._cue("sil", pause))
                continue
            word = _DIGITS[int(token)] if token.isdigit() else token
            shapes = word_visemes(word)
            for j, shape in enumerate(shapes):
                duration = self._rate.vowel_ms if shape in VOWELS else self._rate.consonant_ms
                if cues and j > 0 and cues[-1].viseme == shape:
                    # The same shape twice in a word is one longer shape, not a flutter.
                    last = cues.pop()
                    cues.append(VisemeCue(shape, last.start_ms, last.duration_ms + duration))
                    self._clock_ms += duration
                else:
                    cues.append(self._cue(shape, duration))
        return cues

    def _cue(self, viseme: str, duration_ms: int) -> VisemeCue:
        self._silent = viseme == "sil"
        cue = VisemeCue(viseme, self._clock_ms, duration_ms)
        self._clock_ms += duration_ms
        return cue
