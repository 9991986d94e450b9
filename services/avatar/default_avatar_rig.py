"""The default avatar's skeleton, rest pose and skinned body parts (a rounded robot mascot, about 1.3 m tall)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.avatar.default_avatar_mesh import (
    Geometry,
    Vec3,
    capsule,
    ellipsoid,
    limb,
    rotate,
    rounded_box,
    translate,
)

Euler = tuple[float, float, float]


@dataclass(frozen=True)
class Joint:
    """A bone: its name, its parent's name (None for the root) and its bind-pose position in model space."""

    name: str
    parent: str | None
    position: Vec3


# Names follow the VRM humanoid bones, so retargeting tools recognise them; they also avoid the dots and
# colons three.js's PropertyBinding rewrites in node names. The model faces +Z with its left side at +X.
JOINTS: tuple[Joint, ...] = (
    Joint("hips", None, (0.0, 0.46, 0.0)),
    Joint("spine", "hips", (0.0, 0.56, 0.0)),
    Joint("chest", "spine", (0.0, 0.70, 0.0)),
    Joint("neck", "chest", (0.0, 0.88, 0.0)),
    Joint("head", "neck", (0.0, 0.95, 0.0)),
    *(
        joint
        for side, x in (("left", 1.0), ("right", -1.0))
        for joint in (
            Joint(f"{side}Shoulder", "chest", (0.10 * x, 0.82, 0.0)),
            Joint(f"{side}UpperArm", f"{side}Shoulder", (0.205 * x, 0.80, 0.0)),
            Joint(f"{side}LowerArm", f"{side}UpperArm", (0.215 * x, 0.625, 0.0)),
            Joint(f"{side}Hand", f"{side}LowerArm", (0.225 * x, 0.46, 0.0)),
            Joint(f"{side}ThumbProximal", f"{side}Hand", (0.225 * x, 0.42, 0.035)),
            Joint(f"{side}IndexProximal", f"{side}Hand", (0.225 * x, 0.38, 0.02)),
            Joint(f"{side}UpperLeg", "hips", (0.085 * x, 0.44, 0.0)),
            Joint(f"{side}LowerLeg", f"{side}UpperLeg", (0.085 * x, 0.25, 0.0)),
            Joint(f"{side}Foot", f"{side}LowerLeg", (0.085 * x, 0.08, 0.0)),
        )
    ),
)
JOINT_INDEX = {joint.name: i for i, joint in enumerate(JOINTS)}

#: Rest pose (Euler degrees about X, Y, Z) where it differs from the bind pose: arms a little away from the
#: body, elbows soft, index fingers curled into the mitten and thumbs half tucked. +X tips a bone forward.
REST: dict[str, Euler] = {
    "leftUpperArm": (0.0, 0.0, 7.0),
    "rightUpperArm": (0.0, 0.0, -7.0),
    "leftLowerArm": (-8.0, 0.0, 0.0),
    "rightLowerArm": (-8.0, 0.0, 0.0),
    "leftThumbProximal": (50.0, 0.0, 0.0),
    "rightThumbProximal": (50.0, 0.0, 0.0),
    "leftIndexProximal": (150.0, 0.0, 0.0),
    "rightIndexProximal": (150.0, 0.0, 0.0),
}

#: Where the head sphere's centre sits above the head joint, and its radius; the face wraps onto it.
HEAD_CENTRE_OFFSET = 0.18
HEAD_RADIUS = 0.19

#: Material slots of the body mesh, in primitive order.
BODY, ACCENT, WHITE = "body", "accent", "white"


@dataclass(frozen=True)
class Part:
    """A rigid piece of the body: geometry in model space, its material and the joint that carries it."""

    geometry: Geometry
    material: str
    joint: str


def _position(name: str) -> npt.NDArray[np.float64]:
    return np.array(JOINTS[JOINT_INDEX[name]].position)


def _at(name: str, dx: float = 0.0, dy: float = 0.0, dz: float = 0.0) -> Vec3:
    x, y, z = _position(name)
    return (float(x) + dx, float(y) + dy, float(z) + dz)


def _side_parts(side: str) -> list[Part]:
    """Arm, hand and leg of one `side` ("left" or "right"), placed by that side's joints."""
    upper, lower, hand = f"{side}UpperArm", f"{side}LowerArm", f"{side}Hand"
    palm = _at(hand, dy=-0.05)
    thumb, index = f"{side}ThumbProximal", f"{side}IndexProximal"
    return [
        Part(ellipsoid((0.062, 0.062, 0.062), 8, 5).transformed(translate(_at(upper))), ACCENT, upper),
        Part(limb(_at(upper, dy=-0.03), _at(lower), 0.043), BODY, upper),
        Part(limb(_at(lower), _at(hand, dy=-0.01), 0.039), BODY, lower),
        Part(ellipsoid((0.05, 0.058, 0.055), 10, 6).transformed(translate(palm)), WHITE, hand),
        Part(limb(_at(thumb), _at(thumb, dz=0.045), 0.017, 6), WHITE, thumb),
        Part(limb(_at(index), _at(index, dy=-0.07), 0.015, 6), WHITE, index),
        Part(limb(_at(f"{side}UpperLeg"), _at(f"{side}LowerLeg"), 0.056), BODY, f"{side}UpperLeg"),
        Part(limb(_at(f"{side}LowerLeg"), _at(f"{side}Foot", dy=0.01), 0.05), BODY, f"{side}LowerLeg"),
        Part(
            rounded_box((0.062, 0.045, 0.095), 0.5, 10, 8).transformed(
                translate(_at(f"{side}Foot", dy=-0.035, dz=0.03))
            ),
            ACCENT,
            f"{side}Foot",
        ),
    ]


def _head_parts() -> list[Part]:
    """The head sphere, ear pods and antenna; the face features are a separate morphing mesh."""
    centre = _at("head", dy=HEAD_CENTRE_OFFSET)
    ear = ellipsoid((0.055, 0.055, 0.03), 10, 5).transformed(rotate((0.0, 1.0, 0.0), 90.0))
    top = (centre[0], centre[1] + HEAD_RADIUS - 0.01, centre[2])
    return [
        Part(ellipsoid((HEAD_RADIUS, HEAD_RADIUS, HEAD_RADIUS), 18, 12).transformed(translate(centre)), BODY, "head"),
        *(
            Part(ear.transformed(translate((centre[0] + x * HEAD_RADIUS, centre[1], centre[2]))), ACCENT, "head")
            for x in (1.0, -1.0)
        ),
        Part(limb(top, (top[0], top[1] + 0.08, top[2]), 0.011, 6), BODY, "head"),
        Part(
            ellipsoid((0.03, 0.03, 0.03), 8, 5).transformed(translate((top[0], top[1] + 0.09, top[2]))), ACCENT, "head"
        ),
        Part(limb(_at("neck", dy=-0.03), _at("head", dy=0.03), 0.05, 8, 1), BODY, "neck"),
    ]


def torso() -> Geometry:
    """The rounded torso from the pelvis to the shoulders, skinned smoothly across hips, spine and chest."""
    body = capsule(0.17, 0.50, 16, 4)
    return body.transformed(translate((0.0, 0.40, 0.0)) @ np.diag([1.0, 1.0, 0.82, 1.0]))


def torso_weights(positions: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """JOINTS_0 and WEIGHTS_0 for torso vertices: piecewise-linear blends by height, weights summing to 255."""
    # (height, joint) stops; between two stops a vertex is shared by their joints, so bending does not tear.
    stops = ((0.50, "hips"), (0.60, "spine"), (0.68, "spine"), (0.76, "chest"))
    joints = np.zeros((len(positions), 4), np.uint8)
    weights = np.zeros((len(positions), 4), np.uint8)
    y = positions[:, 1]
    for (y0, j0), (y1, j1) in itertools.pairwise(stops):
        inside = (y >= y0) & (y < y1)
        joints[inside, 0] = JOINT_INDEX[j0]
        if j0 == j1:
            # glTF allows one non-zero weight per joint and vertex, so a single-joint band is rigid.
            weights[inside, 0] = 255
            continue
        upper = np.round((y[inside] - y0) / (y1 - y0) * 255.0).astype(np.int64)
        joints[inside, 1] = JOINT_INDEX[j1]
        weights[inside, 0], weights[inside, 1] = 255 - upper, upper
    below, above = y < stops[0][0], y >= stops[-1][0]
    joints[below, 0], weights[below, 0] = JOINT_INDEX[stops[0][1]], 255
    joints[above, 0], weights[above, 0] = JOINT_INDEX[stops[-1][1]], 255
    return joints, weights


def body_parts() -> list[Part]:
    """Every rigid part of the body except the torso, which is blended."""
    panel = rounded_box((0.075, 0.055, 0.02), 0.45, 10, 5).transformed(translate((0.0, 0.71, 0.13)))
    belt = ellipsoid((0.175, 0.03, 0.146), 16, 4).transformed(translate((0.0, 0.50, 0.0)))
    return [
        Part(panel, ACCENT, "chest"),
        Part(belt, ACCENT, "hips"),
        *_head_parts(),
        *_side_parts("left"),
        *_side_parts("right"),
    ]
