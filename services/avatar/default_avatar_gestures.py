"""The default avatar's gestures: greet, nod, shake, thumbs up, shrug, point, bow, celebrate and goodbye."""

from __future__ import annotations

from services.avatar.default_avatar_motion import Clip, FaceKey, Key
from services.avatar.default_avatar_poses import FISTS, OPEN_HANDS, Pose, both


def _held(weights: dict[str, float], start: float, end: float, duration: float) -> list[FaceKey]:
    """Face keys easing into `weights` by `start`, holding them until `end` and relaxing by `duration`."""
    return [FaceKey(0.0), FaceKey(start, weights), FaceKey(end, weights), FaceKey(duration)]


def _waving(name: str, arm: Pose, swings: tuple[Pose, Pose], duration: float, extra: Pose) -> Clip:
    """Raise the right arm with `arm`, alternate `swings` four times, lower it again."""
    keys = [Key(0.0), Key(0.4, arm | extra)]
    for i in range(4):
        keys.append(Key(0.65 + 0.3 * i, arm | swings[i % 2] | extra))
    keys += [Key(duration - 0.5, arm | extra), Key(duration)]
    return Clip(name, keys, _held({"smile": 0.8, "mouthOpen": 0.15}, 0.3, duration - 0.4, duration))


def greet() -> Clip:
    """A friendly wave with the right hand beside the head; 2.4 s."""
    arm: Pose = {"rightUpperArm": (0.0, 0.0, -80.0), "rightLowerArm": (0.0, 0.0, -85.0), **OPEN_HANDS}
    swings: tuple[Pose, Pose] = ({"rightLowerArm": (0.0, 0.0, -65.0)}, {"rightLowerArm": (0.0, 0.0, -105.0)})
    return _waving("greet", arm, swings, 2.4, {"head": (0.0, -6.0, 6.0)})


def goodbye() -> Clip:
    """A big overhead wave, swinging the whole arm, and a small nod; 2.6 s."""
    arm: Pose = {"rightUpperArm": (0.0, 0.0, -150.0), "rightLowerArm": (0.0, 0.0, -15.0), **OPEN_HANDS}
    swings: tuple[Pose, Pose] = (
        {"rightUpperArm": (0.0, 0.0, -135.0), "rightLowerArm": (0.0, 0.0, -5.0)},
        {"rightUpperArm": (0.0, 0.0, -165.0), "rightLowerArm": (0.0, 0.0, -30.0)},
    )
    return _waving("goodbye", arm, swings, 2.6, {"head": (8.0, 0.0, 4.0), "chest": (4.0, 0.0, 0.0)})


def nod() -> Clip:
    """Two nods of agreement; 1.4 s."""
    down, up = (14.0, 0.0, 0.0), (-3.0, 0.0, 0.0)
    times = (0.0, 0.25, 0.5, 0.75, 1.0, 1.4)
    heads = ((0.0, 0.0, 0.0), down, up, down, up, (0.0, 0.0, 0.0))
    keys = [Key(t, {"head": h}) for t, h in zip(times, heads, strict=True)]
    return Clip("nod", keys, _held({"smile": 0.4}, 0.2, 1.1, 1.4))


def shake() -> Clip:
    """Shaking the head in disagreement, slowing down; 1.6 s."""
    turns = (0.0, 20.0, -20.0, 15.0, -10.0, 4.0, 0.0)
    times = (0.0, 0.2, 0.45, 0.7, 0.95, 1.2, 1.6)
    keys = [Key(t, {"head": (3.0, y, 0.0)}) for t, y in zip(times, turns, strict=True)]
    keys[0] = Key(0.0)
    keys[-1] = Key(1.6)
    return Clip("shake", keys, _held({"frown": 0.5}, 0.2, 1.2, 1.6))


def thumbs_up() -> Clip:
    """A confident thumbs up with the right hand, fist closed, thumb raised; 2 s."""
    pose: Pose = {
        "rightUpperArm": (-25.0, 0.0, -12.0),
        "rightLowerArm": (-85.0, 0.0, 0.0),
        "rightHand": (0.0, 0.0, 0.0),
        "rightThumbProximal": (0.0, 0.0, 0.0),
        "head": (4.0, 0.0, -6.0),
    }
    pump = pose | {"rightLowerArm": (-95.0, 0.0, 0.0)}
    keys = [Key(0.0), Key(0.45, pose), Key(0.8, pump), Key(1.1, pose), Key(1.5, pose), Key(2.0)]
    return Clip("thumbs_up", keys, _held({"smile": 0.9}, 0.35, 1.6, 2.0))


def shrug() -> Clip:
    """Shoulders up, palms up and out, head tilted: who knows; 1.8 s."""
    pose: Pose = {
        **both(
            {
                "leftShoulder": (0.0, 0.0, 12.0),
                "leftUpperArm": (-10.0, 0.0, 15.0),
                "leftLowerArm": (-70.0, -40.0, 25.0),
            }
        ),
        **OPEN_HANDS,
        "head": (0.0, 0.0, -10.0),
    }
    keys = [Key(0.0), Key(0.45, pose), Key(1.2, pose), Key(1.8)]
    return Clip("shrug", keys, _held({"frown": 0.3, "surprise": 0.3}, 0.35, 1.3, 1.8))


def point() -> Clip:
    """Pointing out to the avatar's right (the page beside a corner widget) with the index finger; 2.2 s."""
    pose: Pose = {
        "rightUpperArm": (-35.0, 0.0, -70.0),
        "rightLowerArm": (-10.0, 0.0, 0.0),
        "rightHand": (0.0, 0.0, 0.0),
        "rightIndexProximal": (0.0, 0.0, 0.0),
        "rightThumbProximal": FISTS["rightThumbProximal"],
        "head": (0.0, -25.0, 0.0),
        "chest": (0.0, -8.0, 0.0),
    }
    tap = pose | {"rightLowerArm": (-20.0, 0.0, 0.0)}
    keys = [Key(0.0), Key(0.4, pose), Key(0.7, tap), Key(1.0, pose), Key(1.6, pose), Key(2.2)]
    return Clip("point", keys, _held({"smile": 0.5}, 0.3, 1.7, 2.2))


def bow() -> Clip:
    """A polite bow from the waist, right hand to the chest; 2.4 s."""
    pose: Pose = {
        "spine": (22.0, 0.0, 0.0),
        "chest": (14.0, 0.0, 0.0),
        "head": (10.0, 0.0, 0.0),
        "rightUpperArm": (-55.0, 0.0, 20.0),
        "rightLowerArm": (-95.0, 0.0, 0.0),
        # The left arm swings forward against the bend so it still hangs straight down.
        "leftUpperArm": (-34.0, 0.0, 6.0),
    }
    keys = [Key(0.0), Key(0.7, pose), Key(1.5, pose), Key(2.4)]
    return Clip("bow", keys, _held({"smile": 0.5, "blink": 0.6}, 0.6, 1.6, 2.4))


def celebrate() -> Clip:
    """Both arms thrown up, two jumps and a big open smile; 2.4 s."""
    up: Pose = both({"leftUpperArm": (0.0, 0.0, 155.0), "leftLowerArm": (0.0, 0.0, 15.0)}) | OPEN_HANDS
    pump: Pose = both({"leftUpperArm": (0.0, 0.0, 140.0), "leftLowerArm": (0.0, 0.0, 35.0)}) | OPEN_HANDS
    crouch = (0.0, 0.0, 0.0)
    keys = [Key(0.0), Key(0.3, pump, crouch), Key(0.55, up | {"head": (-10.0, 0.0, 0.0)}, (0.0, 0.12, 0.0))]
    keys += [Key(0.8, pump, crouch), Key(1.05, up | {"head": (-10.0, 0.0, 0.0)}, (0.0, 0.12, 0.0))]
    keys += [Key(1.3, pump, crouch), Key(1.8, up), Key(2.4)]
    return Clip("celebrate", keys, _held({"smile": 1.0, "mouthOpen": 0.5}, 0.3, 2.0, 2.4))
