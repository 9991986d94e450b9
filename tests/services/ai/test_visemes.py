"""Viseme cues from streamed text: Oculus names, monotonic timings, pauses, split-independence."""

from __future__ import annotations

import itertools

from avatarchat.ai.v1 import ai_pb2
from services.ai.visemes import VISEMES, VOWELS, SpeakingRate, VisemeCue, VisemeStream, word_visemes

SENTENCE = "Hello! We ship worldwide [1], usually within 3 days. Thanks — Ava."


def cues_for(deltas: list[str]) -> list[tuple[str, int, int]]:
    stream = VisemeStream()
    cues = [c for d in deltas for c in stream.feed(d)] + stream.finish()
    return [(c.viseme, c.start_ms, c.duration_ms) for c in cues]


def test_a_sentences_cues_are_oculus_visemes_in_time_order() -> None:
    cues = cues_for([SENTENCE])
    assert cues
    assert {v for v, _, _ in cues} <= set(VISEMES)
    for (_, start, duration), (_, next_start, _) in itertools.pairwise(cues):
        assert duration > 0
        assert next_start == start + duration
    assert cues[0][1] == 0
    assert cues[-1][0] == "sil"


def test_vowels_map_to_the_vowel_visemes() -> None:
    assert word_visemes("a") == ["aa"]
    assert word_visemes("bet") == ["PP", "E", "DD"]
    assert word_visemes("it") == ["I", "DD"]
    assert word_visemes("on") == ["O", "nn"]
    assert word_visemes("up") == ["U", "PP"]
    assert word_visemes("see") == ["SS", "I"]
    assert word_visemes("food") == ["FF", "U", "DD"]
    assert word_visemes("the") == ["TH", "E"]
    assert word_visemes("shop") == ["CH", "O", "PP"]
    assert word_visemes("make") == ["PP", "aa", "kk"]
    assert word_visemes("knight") == ["nn", "aa", "I", "DD"]
    vowels = [v for v, _, _ in cues_for(["Ava ate eight oily onions"]) if v in VOWELS]
    assert set(vowels) == {"aa", "E", "I", "O"}


def test_punctuation_pauses_and_unspoken_markers() -> None:
    rate = SpeakingRate()
    cues = cues_for(["Yes, now. Done [2]!"])
    pauses = [d for v, _, d in cues if v == "sil"]
    assert pauses[:2] == [rate.short_pause_ms, rate.long_pause_ms]
    # "[2]" is a citation, not the word "two".
    assert cues_for(["Done [2]!"]) == cues_for(["Done!"])


def test_the_cues_do_not_depend_on_how_the_text_was_split() -> None:
    whole = cues_for([SENTENCE])
    for size in (1, 2, 3, 5, 8, 13):
        assert cues_for([SENTENCE[i : i + size] for i in range(0, len(SENTENCE), size)]) == whole


def test_cues_come_as_words_complete() -> None:
    stream = VisemeStream()
    assert stream.feed("Hel") == []
    hello = stream.feed("lo there")
    assert [c.viseme for c in hello] == ["E", "nn", "O"]
    assert stream.elapsed_ms == sum(c.duration_ms for c in hello)
    proto = hello[1].to_proto()
    assert proto.viseme == "nn"
    assert proto.start_offset.ToMilliseconds() == hello[1].start_ms
    assert proto.duration.ToMilliseconds() == hello[1].duration_ms


def test_a_cue_added_in_place_equals_its_proto() -> None:
    added = ai_pb2.TextDelta()
    cues = [VisemeCue("aa", start, duration) for start, duration in ((0, 0), (999, 1), (1000, 1999), (123_456, 380))]
    for cue in cues:
        cue.add_to(added.visemes)
    assert list(added.visemes) == [cue.to_proto() for cue in cues]
