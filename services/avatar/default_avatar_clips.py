"""The default avatar's looping states (idle, talk, listen, think) and its emotional expressions."""

from __future__ import annotations

import math

from services.avatar.default_avatar_motion import Clip, FaceKey, Key, looped
from services.avatar.default_avatar_poses import FISTS, OPEN_HANDS, Pose, both


def _wave(t: float, period: float, phase: float = 0.0) -> float:
    """sin of `t` on a `period`-second cycle; periods that divide a loop's length keep it seamless."""
    return math.sin(2.0 * math.pi * t / period + phase)


def _blinks(duration: float, at: tuple[float, ...], base: dict[str, float] | None = None) -> list[FaceKey]:
    """Face keys holding `base` weights with a quick blink (80 ms down, 100 ms up) starting at each time in `at`."""
    base = base or {}
    keys = [FaceKey(0.0, base)]
    for start in at:
        keys += [FaceKey(start, base), FaceKey(start + 0.08, {**base, "blink": 1.0}), FaceKey(start + 0.18, base)]
    return [*keys, FaceKey(duration, base)]


def idle() -> Clip:
    """Breathing, a slow look around and two blinks; 4 s, loops."""

    def key(t: float) -> Key:
        breath = _wave(t, 4.0)
        return Key(
            t,
            {
                "chest": (-1.2 * breath, 0.0, 0.0),
                "head": (2.0 * _wave(t, 4.0, 2.0), 5.0 * _wave(t, 4.0, 1.0), 1.5 * _wave(t, 4.0, 0.5)),
                **both(
                    {
                        "leftUpperArm": (1.5 * _wave(t, 4.0, 0.7), 0.0, 7.0 + 1.5 * breath),
                        "leftLowerArm": (-8.0 - 3.0 * _wave(t, 4.0, 1.2), 0.0, 0.0),
                    }
                ),
            },
            lift=(0.0, 0.004 * _wave(t, 2.0), 0.0),
        )

    return Clip("idle", looped(4.0, 8, key), _blinks(4.0, (1.5, 3.3)))


# Mouth openings for talk at 0.1 s steps: syllable-like, never the same twice in a row, closed at both ends.
_SYLLABLES: tuple[float, ...] = (
    *(0.0, 0.7, 0.25, 0.85, 0.4, 0.1, 0.75, 0.45, 0.95, 0.2, 0.6, 0.05),
    *(0.65, 0.3, 0.9, 0.15, 0.55, 0.25, 0.8, 0.1, 0.7, 0.35, 0.8, 0.2, 0.0),
)


def talk() -> Clip:
    """Speaking: the mouth opening and closing, small head nods and a beat gesture with the right hand; 2.4 s, loops."""

    def key(t: float) -> Key:
        beat = _wave(t, 1.2)
        return Key(
            t,
            {
                "chest": (1.0, 3.0 * _wave(t, 2.4), 0.0),
                "head": (2.0 + 3.0 * _wave(t, 1.2, 1.0), -4.0 * _wave(t, 2.4), 2.0 * _wave(t, 1.2, 0.5)),
                "rightUpperArm": (-20.0 - 6.0 * beat, 0.0, -12.0),
                "rightLowerArm": (-45.0 - 15.0 * beat, 12.0, 0.0),
                "leftLowerArm": (-14.0 + 6.0 * _wave(t, 2.4, 1.0), 0.0, 0.0),
                **OPEN_HANDS,
            },
        )

    face = [FaceKey(round(0.1 * i, 1), {"mouthOpen": w, "smile": 0.2}) for i, w in enumerate(_SYLLABLES)]
    return Clip("talk", looped(2.4, 12, key), face)


def listen() -> Clip:
    """Attentive: leaning in with the head tilted, nodding slightly now and then; 3 s, loops."""

    def key(t: float) -> Key:
        return Key(
            t,
            {
                "spine": (3.0, 0.0, 0.0),
                "chest": (3.0, 0.0, 0.0),
                "head": (4.0 + 3.0 * max(0.0, _wave(t, 1.5)), 4.0, -9.0 + 2.0 * _wave(t, 3.0)),
            },
        )

    return Clip("listen", looped(3.0, 8, key), _blinks(3.0, (2.2,), {"smile": 0.25}))


def think() -> Clip:
    """Pondering: chin in the right hand, eyes up and head tilting; 3 s, loops."""
    # Arm angles solved offline (a small IK fit) to put the right palm under the chin without entering the torso.
    chin = {"rightUpperArm": (-85.0, 9.0, -21.0), "rightLowerArm": (-92.0, 35.0, 0.0), "rightHand": (20.0, 0.0, 0.0)}

    def key(t: float) -> Key:
        sway = _wave(t, 3.0)
        return Key(
            t,
            {
                **chin,
                "chest": (2.0, 0.0, 0.0),
                "head": (-10.0 + 2.0 * sway, 8.0 * sway, 7.0),
            },
        )

    return Clip("think", looped(3.0, 8, key), _blinks(3.0, (1.2,), {"frown": 0.15}))


def happy() -> Clip:
    """A beaming smile with a little bounce and open arms; 2 s."""
    arms = both({"leftUpperArm": (-10.0, 0.0, 30.0), "leftLowerArm": (-30.0, 0.0, 10.0)})
    keys = [Key(0.0)]
    for i, t in enumerate((0.3, 0.6, 0.9, 1.2, 1.5)):
        tilt = 6.0 if i % 2 else -6.0
        keys.append(Key(t, {**arms, "head": (-4.0, 0.0, tilt), "chest": (-3.0, 0.0, 0.0)}, (0.0, 0.03 * (i % 2), 0.0)))
    keys.append(Key(2.0))
    face = [FaceKey(0.0), FaceKey(0.25, {"smile": 1.0}), FaceKey(1.6, {"smile": 1.0}), FaceKey(2.0)]
    return Clip("happy", keys, face)


def sad() -> Clip:
    """Slumped shoulders, head down and a slow sigh; 2.5 s."""
    slump: Pose = {
        "spine": (6.0, 0.0, 0.0),
        "chest": (10.0, 0.0, 0.0),
        "head": (22.0, 0.0, 4.0),
        **both({"leftShoulder": (0.0, 0.0, -6.0), "leftUpperArm": (-4.0, 0.0, 3.0), "leftLowerArm": (-4.0, 0.0, 0.0)}),
    }
    sigh = {**slump, "chest": (6.0, 0.0, 0.0), "head": (15.0, 0.0, 4.0)}
    keys = [Key(0.0), Key(0.6, slump), Key(1.2, sigh), Key(1.9, slump), Key(2.5)]
    face = [FaceKey(0.0), FaceKey(0.5, {"frown": 1.0}), FaceKey(2.1, {"frown": 1.0}), FaceKey(2.5)]
    return Clip("sad", keys, face)


def surprised() -> Clip:
    """A startled jump back with hands up and eyes wide; 1.6 s."""
    startle: Pose = {
        "spine": (-4.0, 0.0, 0.0),
        "chest": (-8.0, 0.0, 0.0),
        "head": (-8.0, 0.0, 0.0),
        **both({"leftUpperArm": (-25.0, 0.0, 30.0), "leftLowerArm": (-70.0, 0.0, 20.0)}),
    }
    keys = [Key(0.0), Key(0.15, startle, (0.0, 0.04, -0.02)), Key(0.35, startle, (0.0, 0.0, -0.02)), Key(1.1, startle)]
    keys.append(Key(1.6))
    face = [FaceKey(0.0), FaceKey(0.12, {"surprise": 1.0}), FaceKey(1.1, {"surprise": 1.0}), FaceKey(1.6)]
    return Clip("surprised", keys, face)


def angry() -> Clip:
    """Fists clenched at the sides, leaning in with a stamp and a firm head shake; 2 s."""
    tense: Pose = {
        "spine": (5.0, 0.0, 0.0),
        "chest": (6.0, 0.0, 0.0),
        "head": (6.0, 0.0, 0.0),
        **both({"leftShoulder": (0.0, 0.0, 5.0), "leftUpperArm": (10.0, 0.0, 16.0), "leftLowerArm": (-50.0, 0.0, 0.0)}),
        **FISTS,
    }
    keys = [Key(0.0), Key(0.25, tense, (0.0, 0.02, 0.0)), Key(0.4, tense | {"leftUpperLeg": (-20.0, 0.0, 0.0)})]
    for i, t in enumerate((0.55, 0.8, 1.05, 1.3)):
        keys.append(Key(t, tense | {"head": (6.0, 12.0 if i % 2 else -12.0, 0.0)}))
    keys += [Key(1.55, tense), Key(2.0)]
    face = [FaceKey(0.0), FaceKey(0.2, {"frown": 0.9, "blink": 0.35}), FaceKey(1.6, {"frown": 0.9, "blink": 0.35})]
    return Clip("angry", keys, [*face, FaceKey(2.0)])


def confused() -> Clip:
    """A head tilt and a scratch behind the ear with the right hand; 2.2 s."""
    scratch: Pose = {
        "rightUpperArm": (-20.0, 0.0, -115.0),
        "rightLowerArm": (-20.0, 0.0, -110.0),
        "head": (0.0, 10.0, 14.0),
        "chest": (0.0, 0.0, 4.0),
    }
    keys = [Key(0.0), Key(0.45, scratch)]
    for i, t in enumerate((0.65, 0.85, 1.05, 1.25)):
        keys.append(Key(t, scratch | {"rightHand": (0.0, 0.0, 20.0 if i % 2 else -10.0)}))
    keys += [Key(1.6, scratch), Key(2.2)]
    weights = {"frown": 0.4, "surprise": 0.3}
    face = [FaceKey(0.0), FaceKey(0.4, weights), FaceKey(1.7, weights), FaceKey(2.2)]
    return Clip("confused", keys, face)


def laugh() -> Clip:
    """Head back and shoulders shaking with laughter, a hand on the belly; 2 s."""
    lean: Pose = {
        "spine": (-4.0, 0.0, 0.0),
        "head": (-14.0, 0.0, 0.0),
        # A hand on the belly (angles fitted offline like think's).
        "leftUpperArm": (-33.0, -27.0, 18.0),
        "leftLowerArm": (-53.0, -42.0, 0.0),
    }
    keys = [Key(0.0)]
    for i in range(8):
        shake = 1.0 if i % 2 else -1.0
        pose = lean | {"chest": (-6.0 + 3.0 * shake, 0.0, 0.0), **both({"leftShoulder": (0.0, 0.0, 3.0 + 3.0 * shake)})}
        keys.append(Key(0.3 + 0.17 * i, pose, (0.0, 0.006 * (1 + shake), 0.0)))
    keys.append(Key(2.0))
    face = [
        FaceKey(0.0),
        *(FaceKey(0.2 + 0.17 * i, {"smile": 1.0, "mouthOpen": 0.8 if i % 2 else 0.3}) for i, _ in enumerate(range(10))),
    ]
    return Clip("laugh", keys, [*face, FaceKey(2.0)])


def excited() -> Clip:
    """Quick hops with fists pumping and a wide grin; 2 s."""
    keys = [Key(0.0)]
    for i in range(6):
        up = i % 2 == 0
        arms = both(
            {"leftUpperArm": (-30.0 if up else -15.0, 0.0, 20.0), "leftLowerArm": (-110.0 if up else -80.0, 0.0, 0.0)}
        )
        pose = arms | FISTS | {"head": (-5.0, 0.0, 0.0), "chest": (-3.0, 0.0, 0.0)}
        keys.append(Key(0.2 + 0.27 * i, pose, (0.0, 0.05 if up else 0.0, 0.0)))
    keys.append(Key(2.0))
    weights = {"smile": 0.9, "surprise": 0.35, "mouthOpen": 0.3}
    return Clip("excited", keys, [FaceKey(0.0), FaceKey(0.2, weights), FaceKey(1.7, weights), FaceKey(2.0)])
