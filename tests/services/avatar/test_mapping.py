"""The behaviour library, clip and morph target name matching, and viseme detection."""

from __future__ import annotations

import re

import pytest

from avatarchat.ai.v1 import ai_pb2
from services.avatar.behaviours import BEHAVIOURS, BEHAVIOURS_BY_NAME, behaviour_for_value
from services.avatar.inspection import inspect_glb
from services.avatar.mapping import auto_map, classify_morph, viseme_morphs
from services.avatar.morph_targets import ARKIT_BLENDSHAPES, OCULUS_VISEMES
from tests.services.avatar.glb_samples import ROBOT


def test_library_has_every_behaviour_of_the_contract_in_enum_order() -> None:
    names = [name for name, _ in ai_pb2.Behaviour.items() if name != "BEHAVIOUR_UNSPECIFIED"]
    assert [behaviour.enum_name for behaviour in BEHAVIOURS] == names
    assert len(BEHAVIOURS) == 20
    assert [behaviour.value for behaviour in BEHAVIOURS] == list(range(1, 21))
    assert "thumbs_up" in BEHAVIOURS_BY_NAME


def test_library_entries_are_well_formed() -> None:
    for behaviour in BEHAVIOURS:
        assert behaviour.description
        assert "\n" not in behaviour.description
        assert behaviour.synonyms
        for synonym in behaviour.synonyms + behaviour.morph_synonyms:
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", synonym), synonym
        assert behaviour.fallback is None or behaviour.fallback in BEHAVIOURS_BY_NAME


def test_behaviour_for_enum_value() -> None:
    found = behaviour_for_value(ai_pb2.BEHAVIOUR_THUMBS_UP)
    assert found is not None
    assert found.name == "thumbs_up"
    assert behaviour_for_value(ai_pb2.BEHAVIOUR_UNSPECIFIED) is None
    assert behaviour_for_value(999) is None


def test_robot_maps_its_clips_and_expression_morphs() -> None:
    if not ROBOT.exists():
        pytest.skip(f"{ROBOT} is absent (a plain clone has no ../shared)")
    inspection = inspect_glb(ROBOT.read_bytes())
    result = auto_map(inspection.clip_names, inspection.morph_targets)
    expected = {
        "greet": ("clip", "Wave"),
        "nod": ("clip", "Yes"),
        "shake": ("clip", "No"),
        "idle": ("clip", "Idle"),
        "thumbs_up": ("clip", "ThumbsUp"),
        "angry": ("morph", "Angry"),
        "surprised": ("morph", "Surprised"),
        "sad": ("morph", "Sad"),
    }
    assert expected.items() <= result.mapped.items()
    for clip in ("Death", "Punch", "Running", "Walking", "Sitting", "Jump"):
        assert clip in result.unmapped
    assert result.visemes == {}


@pytest.mark.parametrize(
    ("clip", "behaviour"),
    [
        ("Wave", "greet"),
        ("wave_01", "greet"),
        ("Wave.001", "greet"),
        ("Armature|Yes", "nod"),
        ("mixamo.com|Idle", "idle"),
        ("CharacterArmature|Thumbs_Up", "thumbs_up"),
        ("ThumbsUp", "thumbs_up"),
        ("thumbsup", "thumbs_up"),
        ("Head Shake", "shake"),
        ("Armature|No", "shake"),
        ("Idle2", "idle"),
        ("Breathing Idle", "idle"),
        ("Talking", "talk"),
        ("Thinking", "think"),
        ("Shrugging", "shrug"),
        ("Bow", "bow"),
        ("Laughing", "laugh"),
        ("HumanArmature|Man_Clapping", "celebrate"),
        ("Goodbye", "goodbye"),
        ("Excited", "excited"),
        ("Pointing", "point"),
        ("Confused", "confused"),
    ],
)
def test_clip_names_from_different_tools(clip: str, behaviour: str) -> None:
    assert auto_map([clip], []).mapped.get(behaviour) == ("clip", clip)


@pytest.mark.parametrize("clip", ["Take 001", "Armature|Take 001", "No_Weapon_Idle", "Sitting Idle", "Shake_Hands", ""])
def test_clips_that_match_nothing_stay_unmapped(clip: str) -> None:
    result = auto_map([clip], [])
    assert result.mapped == {}
    assert result.unmapped == (clip,)


def test_exact_names_win_over_longer_ones() -> None:
    result = auto_map(["Idle_Happy", "Idle", "Wave_Hand_Left"], [])
    assert result.mapped["idle"] == ("clip", "Idle")
    assert result.mapped["greet"] == ("clip", "Wave_Hand_Left")


def test_clips_win_over_morphs_and_fallbacks_reuse_a_mapping() -> None:
    result = auto_map(["Sad", "Wave"], ["Sad", "Angry", "smile"])
    assert result.mapped["sad"] == ("clip", "Sad")
    assert result.mapped["angry"] == ("morph", "Angry")
    assert result.mapped["happy"] == ("morph", "smile")
    assert result.mapped["laugh"] == ("morph", "smile")  # laugh falls back to happy
    assert result.mapped["goodbye"] == ("clip", "Wave")  # goodbye falls back to greet
    assert result.unmapped == ()


def test_a_greet_clip_is_found_among_twenty_thousand() -> None:
    # Only the result: how long the mapping takes is not something a test here may time.
    clips = [f"Clip_{index}_Dance_Take" for index in range(20_000)] + ["Wave"]
    assert auto_map(clips, []).mapped["greet"] == ("clip", "Wave")


@pytest.mark.parametrize("name", sorted(ARKIT_BLENDSHAPES))
def test_arkit_blendshapes_are_expressions(name: str) -> None:
    assert classify_morph(name) == "expression"


@pytest.mark.parametrize("viseme", OCULUS_VISEMES)
def test_oculus_visemes_are_visemes(viseme: str) -> None:
    assert classify_morph(f"viseme_{viseme}") == "viseme"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mouthOpen", "expression"),
        ("smile", "expression"),
        ("frown", "expression"),
        ("blink", "expression"),
        ("Angry", "expression"),
        ("eyeBlink_L", "expression"),
        ("vrc.v_aa", "viseme"),
        ("ou", "viseme"),
        ("Body.001", "other"),
        ("Key 1", "other"),
        ("target_0", "other"),
    ],
)
def test_classify_other_names(name: str, kind: str) -> None:
    assert classify_morph(name) == kind


def test_viseme_morphs_of_a_full_oculus_set() -> None:
    morphs = [f"viseme_{viseme}" for viseme in OCULUS_VISEMES] + ["mouthOpen", "mouthSmile"]
    assert viseme_morphs(morphs) == {viseme: f"viseme_{viseme}" for viseme in OCULUS_VISEMES}


def test_oculus_names_win_over_vrm_vowels() -> None:
    assert viseme_morphs(["aa", "viseme_aa", "oh"]) == {"aa": "viseme_aa", "O": "oh"}


@pytest.mark.parametrize(
    ("morphs", "mouth"), [(["smile", "jawOpen", "mouthOpen"], "mouthOpen"), (["jawOpen"], "jawOpen")]
)
def test_a_mouth_open_morph_stands_in_for_vowels(morphs: list[str], mouth: str) -> None:
    assert viseme_morphs(morphs) == dict.fromkeys(("aa", "E", "I", "O", "U"), mouth)


def test_no_mouth_morph_no_visemes() -> None:
    assert viseme_morphs(["Angry", "Sad", "blink"]) == {}
