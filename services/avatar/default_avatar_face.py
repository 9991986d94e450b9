"""The default avatar's face: eyes, brows and mouth wrapped onto the head sphere, with five morph targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from services.avatar.default_avatar_mesh import (
    F64,
    Geometry,
    capsule,
    dome,
    ellipsoid,
    merge,
    rotate,
    scale,
    translate,
    vertex_normals,
)
from services.avatar.default_avatar_rig import HEAD_RADIUS, WHITE

#: Morph target names in target order; three.js reads them from mesh.extras.targetNames.
MORPH_NAMES = ("mouthOpen", "smile", "frown", "surprise", "blink")

#: Material slots the face adds to the body's (eye whites share the gloves' WHITE).
DARK, MOUTH = "dark", "mouth"

# Features are modelled in surface coordinates (u right, v up, w out of the skin, all in metres) and then
# wrapped onto the sphere, so a brow raised or a mouth stretched by a morph stays on the skin.
Warp = Callable[[F64], F64]

_EYE_U, _EYE_V = 0.072, 0.012
_BROW_V = _EYE_V + 0.082
_MOUTH_V = -0.078


def wrap(uvw: F64, radius: float = HEAD_RADIUS) -> F64:
    """Surface coordinates to points in head-centre space: arc lengths along the sphere, then out by w."""
    yaw, pitch = uvw[:, 0] / radius, uvw[:, 1] / radius
    normal = np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], axis=1)
    return np.asarray(normal * (radius + uvw[:, 2:3]), dtype=np.float64)


@dataclass(frozen=True)
class Piece:
    """Geometry in surface coordinates and how each morph target reshapes it (absent: it stays still)."""

    geometry: Geometry
    warps: Mapping[str, Warp] = field(default_factory=dict)


@dataclass(frozen=True)
class FacePrimitive:
    """One material's share of the face: rest geometry and a displacement per target (None when still)."""

    material: str
    geometry: Geometry
    displacements: tuple[F64 | None, ...]


def _scaled_about(centre: tuple[float, float], su: float, sv: float, dv: float = 0.0) -> Warp:
    """A warp scaling u and v about `centre` and then shifting v by `dv`."""

    def warp(p: F64) -> F64:
        out = p.copy()
        out[:, 0] = centre[0] + (p[:, 0] - centre[0]) * su
        out[:, 1] = centre[1] + (p[:, 1] - centre[1]) * sv + dv
        return out

    return warp


def _then(first: Warp, second: Warp) -> Warp:
    return lambda p: second(first(p))


def _eye_warps(u0: float) -> dict[str, Warp]:
    centre = (u0, _EYE_V)
    return {
        # Lids meet a little below the middle, leaving a thin line: a closed eye.
        "blink": _scaled_about(centre, 1.0, 0.08, -0.012),
        # Cheeks push up from below: the smiling squint.
        "smile": _scaled_about((u0, _EYE_V + 0.03), 1.0, 0.55),
        "surprise": _scaled_about(centre, 1.12, 1.16),
    }


def _eye(side: float) -> tuple[list[Piece], list[Piece]]:
    """One eye's white-material pieces (sclera, highlight) and dark pieces (pupil)."""
    u0 = _EYE_U * side
    warps = _eye_warps(u0)
    white = dome((0.04, 0.052, 0.016), 12, 4).transformed(translate((u0, _EYE_V, 0.0)))
    pupil_centre = (u0 - 0.004 * side, _EYE_V - 0.004)
    pupil = dome((0.024, 0.031, 0.008), 10, 3).transformed(translate((*pupil_centre, 0.011)))
    # The highlight sits up and to the viewer's right in both eyes, as one light would put it.
    spark = ellipsoid((0.0075, 0.0075, 0.004), 6, 3).transformed(translate((u0 + 0.006, _EYE_V + 0.012, 0.021)))
    # Surprised pupils also shrink a little about their own centre.
    pupil_warps = dict(warps, surprise=_then(_scaled_about(pupil_centre, 0.8, 0.8), warps["surprise"]))
    return [Piece(white, warps), Piece(spark, warps)], [Piece(pupil, pupil_warps)]


def _brow(side: float) -> Piece:
    """A soft brow bar above one eye that lifts, drops and tilts with the expressions."""
    u0 = _EYE_U * side
    bar = capsule(0.008, 0.06, 8, 2).transformed(
        translate((u0, _BROW_V, 0.0))
        @ rotate((0.0, 0.0, 1.0), 90.0)
        @ scale((1.0, 1.0, 0.6))
        @ translate((0, -0.03, 0))
    )

    def worried(p: F64) -> F64:
        # The inner end (towards the nose) rises: sadness and sympathy.
        angle = np.radians(-16.0 * side)
        du, dv = p[:, 0] - u0, p[:, 1] - _BROW_V
        out = p.copy()
        out[:, 0] = u0 + du * np.cos(angle) - dv * np.sin(angle)
        out[:, 1] = _BROW_V + du * np.sin(angle) + dv * np.cos(angle) + 0.006
        return out

    return Piece(
        bar,
        {
            "blink": _scaled_about((u0, _BROW_V), 1.0, 1.0, -0.006),
            "smile": _scaled_about((u0, _BROW_V), 1.0, 1.0, 0.008),
            "surprise": _scaled_about((u0, _BROW_V), 1.0, 1.0, 0.026),
            "frown": worried,
        },
    )


# Mouth outlines as (half width, upper half height, lower half height, corner lift), in metres.
_MOUTH_REST = (0.05, 0.008, 0.014, 0.014)
_MOUTH_SHAPES = {
    "mouthOpen": (0.042, 0.016, 0.05, 0.006),
    "smile": (0.064, 0.006, 0.034, 0.028),
    "frown": (0.046, 0.012, 0.006, -0.022),
    "surprise": (0.022, 0.026, 0.03, 0.0),
}


def _mouth_points(disc: F64, shape: tuple[float, float, float, float]) -> F64:
    """The unit disc `disc` (a, b) laid out as a mouth of `shape` in surface coordinates."""
    half_width, upper, lower, lift = shape
    a, b = disc[:, 0], disc[:, 1]
    v = _MOUTH_V + np.where(b > 0, upper * b, lower * b) + lift * a * a
    return np.stack([half_width * a, v, np.full(len(disc), 0.003)], axis=1)


def _mouth_warp(disc: F64, shape: tuple[float, float, float, float]) -> Warp:
    """A warp replacing the mouth by the outline `shape` (the mouth's vertices are exactly `disc`)."""
    return lambda _rest: _mouth_points(disc, shape)


def _mouth() -> Piece:
    """A flat mouth decal: a polar grid of the unit disc whose outline each target reshapes."""
    segments, rings = 20, 3
    angles = np.arange(segments) * (2.0 * np.pi / segments)
    radii = np.arange(1, rings + 1) / rings
    rings_uv = [np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1) for r in radii]
    disc = np.concatenate([np.zeros((1, 2)), *rings_uv])
    seg = np.arange(segments)
    nxt = (seg + 1) % segments
    tris = [np.stack([np.zeros(segments, np.int64), 1 + seg, 1 + nxt], axis=1)]
    for ring in range(rings - 1):
        inner, outer = 1 + ring * segments, 1 + (ring + 1) * segments
        tris.append(np.stack([inner + seg, outer + seg, outer + nxt], axis=1))
        tris.append(np.stack([inner + seg, outer + nxt, inner + nxt], axis=1))
    triangles = np.concatenate(tris).astype(np.int64)
    rest = _mouth_points(disc, _MOUTH_REST)
    geometry = Geometry(rest, np.zeros_like(rest), triangles)
    return Piece(geometry, {name: _mouth_warp(disc, shape) for name, shape in _MOUTH_SHAPES.items()})


def _primitive(material: str, pieces: list[Piece]) -> FacePrimitive:
    """Wraps `pieces` onto the head and turns their warps into per-target displacements."""
    rest_uvw = merge([p.geometry for p in pieces])
    positions = wrap(rest_uvw.positions)
    geometry = Geometry(positions, vertex_normals(positions, rest_uvw.triangles), rest_uvw.triangles)
    displacements: list[F64 | None] = []
    for name in MORPH_NAMES:
        if not any(name in p.warps for p in pieces):
            displacements.append(None)
            continue
        moved = [
            wrap(p.warps[name](p.geometry.positions)) if name in p.warps else wrap(p.geometry.positions) for p in pieces
        ]
        displacements.append(np.concatenate(moved) - positions)
    return FacePrimitive(material, geometry, tuple(displacements))


def face_primitives() -> list[FacePrimitive]:
    """The face mesh's primitives (eye whites, dark pupils and brows, mouth), in head-centre space."""
    whites: list[Piece] = []
    darks: list[Piece] = []
    for side in (1.0, -1.0):
        white, dark = _eye(side)
        whites += white
        darks += [*dark, _brow(side)]
    return [_primitive(WHITE, whites), _primitive(DARK, darks), _primitive(MOUTH, [_mouth()])]
