"""Keyframed poses to glTF animation channels: Euler poses to quaternions, lifts to hips translations."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from services.avatar.default_avatar_face import MORPH_NAMES
from services.avatar.default_avatar_mesh import F64, Vec3
from services.avatar.default_avatar_rig import JOINT_INDEX, JOINTS, REST, Euler

#: Node the face morph weights are animated on.
FACE_NODE = "Face"


@dataclass(frozen=True)
class Key:
    """A body keyframe: joint rotations (Euler degrees X, Y, Z; absent joints rest) and a hips lift in metres."""

    time: float
    pose: Mapping[str, Euler] = field(default_factory=dict)
    lift: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class FaceKey:
    """A face keyframe: morph weights by target name (absent targets are 0)."""

    time: float
    weights: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Clip:
    """A named animation: body keys and, where the face takes part, face keys on their own timeline."""

    name: str
    keys: Sequence[Key]
    face: Sequence[FaceKey] = ()


@dataclass(frozen=True)
class Channel:
    """One glTF channel with its LINEAR sampler: target node, path, key times and values (one row per key)."""

    node: str
    path: str
    times: F64
    values: F64


def looped(duration: float, steps: int, key_at: Callable[[float], Key]) -> list[Key]:
    """`steps` evenly spaced keys from `key_at`, closed by a copy of the first so the clip loops seamlessly."""
    keys = [key_at(duration * i / steps) for i in range(steps)]
    return [*keys, Key(duration, keys[0].pose, keys[0].lift)]


def quaternion(euler: Euler) -> F64:
    """The unit quaternion (x, y, z, w) of rotating about X, then Y, then Z by `euler` degrees."""
    hx, hy, hz = (np.radians(a) / 2.0 for a in euler)
    cx, sx, cy, sy, cz, sz = np.cos(hx), np.sin(hx), np.cos(hy), np.sin(hy), np.cos(hz), np.sin(hz)
    return np.array(
        [
            sx * cy * cz - cx * sy * sz,
            cx * sy * cz + sx * cy * sz,
            cx * cy * sz - sx * sy * cz,
            cx * cy * cz + sx * sy * sz,
        ]
    )


def _rotations(joint: str, keys: Sequence[Key]) -> F64:
    """Quaternions of `joint` at each key, signs chosen so each step takes the short way round."""
    rows = [quaternion(key.pose.get(joint, REST.get(joint, (0.0, 0.0, 0.0)))) for key in keys]
    for i in range(1, len(rows)):
        if float(np.dot(rows[i - 1], rows[i])) < 0.0:
            rows[i] = -rows[i]
    return np.array(rows)


def channels(clip: Clip) -> list[Channel]:
    """The glTF channels of `clip`: a rotation per posed joint, a hips translation if it lifts, face weights."""
    times = np.array([key.time for key in clip.keys])
    if np.any(np.diff(times) <= 0) or times[0] != 0.0:
        raise ValueError(f"{clip.name}: key times must start at 0 and increase")
    posed = {joint for key in clip.keys for joint in key.pose}
    unknown = posed - JOINT_INDEX.keys()
    if unknown:
        raise ValueError(f"{clip.name}: unknown joints {sorted(unknown)}")
    out = [
        Channel(joint.name, "rotation", times, _rotations(joint.name, clip.keys))
        for joint in JOINTS
        if joint.name in posed
    ]
    if any(key.lift != (0.0, 0.0, 0.0) for key in clip.keys):
        rest = np.array(JOINTS[JOINT_INDEX["hips"]].position)
        out.append(Channel("hips", "translation", times, np.array([rest + key.lift for key in clip.keys])))
    if clip.face:
        unknown = {name for key in clip.face for name in key.weights} - set(MORPH_NAMES)
        if unknown:
            raise ValueError(f"{clip.name}: unknown morph targets {sorted(unknown)}")
        face_times = np.array([key.time for key in clip.face])
        if np.any(np.diff(face_times) <= 0) or face_times[0] != 0.0 or face_times[-1] != times[-1]:
            raise ValueError(f"{clip.name}: face key times must increase from 0 to the clip's end")
        weights = np.array([[key.weights.get(name, 0.0) for name in MORPH_NAMES] for key in clip.face])
        out.append(Channel(FACE_NODE, "weights", face_times, weights))
    return out
