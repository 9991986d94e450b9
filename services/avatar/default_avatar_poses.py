"""Pose vocabulary shared by the default avatar's clips: mirroring and a few recurring body shapes."""

from __future__ import annotations

from collections.abc import Mapping

from services.avatar.default_avatar_rig import Euler

Pose = dict[str, Euler]


def mirrored(pose: Mapping[str, Euler]) -> Pose:
    """`pose` reflected through the body's midplane: left and right swap, Y and Z rotations change sign."""
    out: Pose = {}
    for joint, (x, y, z) in pose.items():
        if joint.startswith("left"):
            name = "right" + joint[4:]
        elif joint.startswith("right"):
            name = "left" + joint[5:]
        else:
            name = joint
        out[name] = (x, -y, -z)
    return out


def both(left: Mapping[str, Euler]) -> Pose:
    """A symmetric pose from its left half."""
    return {**left, **mirrored(left)}


# The hands are mittens whose index fingers stay curled unless pointing, so only the thumbs open and close.
#: Thumbs straight out (the bind pose): open hands for waves, shrugs and celebrations.
OPEN_HANDS: Pose = both({"leftThumbProximal": (0.0, 0.0, 0.0)})
#: Thumbs tucked hard: fists.
FISTS: Pose = both({"leftThumbProximal": (95.0, 0.0, 0.0)})
