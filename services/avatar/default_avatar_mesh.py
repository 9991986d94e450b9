"""Procedural geometry for the default avatar: revolved shapes, rounded boxes, transforms and normals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Vec3 = tuple[float, float, float]

#: Grid every stored float is snapped to (2^-16 m is 15 µm), so last-bit differences between CPUs'
#: libm, SIMD or BLAS builds never reach the content-addressed bytes.
_GRID = 65536.0


def quantize(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """`values` snapped to the 2^-16 grid; such numbers below 256 are exact in float32."""
    snapped = np.round(np.asarray(values, dtype=np.float64) * _GRID) / _GRID
    return (snapped + 0.0).astype(np.float32)  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class Geometry:
    """An indexed triangle mesh: positions (n, 3), normals (n, 3) and counter-clockwise triangles (m, 3)."""

    positions: F64
    normals: F64
    triangles: npt.NDArray[np.int64]

    def transformed(self, matrix: F64) -> Geometry:
        """This geometry under an affine 4x4 `matrix`, normals by its inverse transpose."""
        linear = matrix[:3, :3]
        positions = self.positions @ linear.T + matrix[:3, 3]
        normals = self.normals @ np.linalg.inv(linear)
        triangles = self.triangles if np.linalg.det(linear) > 0 else self.triangles[:, ::-1]
        return Geometry(positions, _normalized(normals), triangles)


def _normalized(vectors: F64) -> F64:
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(lengths > 0, lengths, 1.0), dtype=np.float64)


def vertex_normals(positions: F64, triangles: npt.NDArray[np.int64]) -> F64:
    """Smooth vertex normals: the area-weighted sum of the faces around each vertex."""
    a, b, c = (positions[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], face)
    return _normalized(normals)


def merge(parts: Sequence[Geometry]) -> Geometry:
    """One geometry holding all `parts`, triangles re-indexed."""
    offsets = np.cumsum([0] + [len(p.positions) for p in parts[:-1]])
    return Geometry(
        np.concatenate([p.positions for p in parts]),
        np.concatenate([p.normals for p in parts]),
        np.concatenate([p.triangles + off for p, off in zip(parts, offsets, strict=True)]),
    )


def revolve(profile: Sequence[tuple[float, float]], segments: int) -> Geometry:
    """A closed surface of revolution about +Y from a (radius, y) profile running from top pole to bottom pole."""
    rings = profile[1:-1]
    angles = np.arange(segments) * (2.0 * np.pi / segments)
    top = np.array([[0.0, profile[0][1], 0.0]])
    bottom = np.array([[0.0, profile[-1][1], 0.0]])
    ring_points = [np.stack([r * np.sin(angles), np.full(segments, y), r * np.cos(angles)], axis=1) for r, y in rings]
    positions = np.concatenate([top, *ring_points, bottom])
    last = len(positions) - 1
    seg = np.arange(segments)
    nxt = (seg + 1) % segments
    tris = [np.stack([np.zeros(segments, np.int64), 1 + seg, 1 + nxt], axis=1)]
    for ring in range(len(rings) - 1):
        upper, lower = 1 + ring * segments, 1 + (ring + 1) * segments
        tris.append(np.stack([upper + seg, lower + seg, lower + nxt], axis=1))
        tris.append(np.stack([upper + seg, lower + nxt, upper + nxt], axis=1))
    base = 1 + (len(rings) - 1) * segments
    tris.append(np.stack([base + seg, np.full(segments, last), base + nxt], axis=1))
    triangles = np.concatenate(tris).astype(np.int64)
    return Geometry(positions, vertex_normals(positions, triangles), triangles)


def ellipsoid(radii: Vec3, segments: int = 14, rings: int = 9) -> Geometry:
    """An ellipsoid centred on the origin (a sphere when the radii are equal)."""
    theta = np.linspace(0.0, np.pi, rings + 1)
    unit = revolve([(float(np.sin(t)), float(np.cos(t))) for t in theta], segments)
    return unit.transformed(scale(radii))


def dome(radii: Vec3, segments: int = 12, rings: int = 5) -> Geometry:
    """Half an ellipsoid bulging towards +Z, closed by a flat back: eyes and pupils set into the skin."""
    theta = np.linspace(0.0, np.pi / 2, rings + 1)
    unit = revolve([*((float(np.sin(t)), float(np.cos(t))) for t in theta), (0.0, 0.0)], segments)
    return unit.transformed(scale(radii) @ rotate((1.0, 0.0, 0.0), 90.0))


def capsule(radius: float, length: float, segments: int = 12, cap_rings: int = 4) -> Geometry:
    """A capsule along +Y from y=0 to y=`length` (caps included), for limbs and stalks."""
    half = np.linspace(0.0, np.pi / 2, cap_rings + 1)
    top = [(radius * float(np.sin(t)), length - radius + radius * float(np.cos(t))) for t in half]
    bottom = [(radius * float(np.cos(t)), radius - radius * float(np.sin(t))) for t in half]
    return revolve(top + bottom, segments)


def rounded_box(half_size: Vec3, roundness: float = 0.45, segments: int = 16, rings: int = 10) -> Geometry:
    """A box with rounded edges (a superellipsoid): exponent `roundness` 1 is an ellipsoid, towards 0 a box."""
    sphere = ellipsoid((1.0, 1.0, 1.0), segments, rings)
    positions = np.sign(sphere.positions) * np.abs(sphere.positions) ** roundness * np.array(half_size)
    return Geometry(positions, vertex_normals(positions, sphere.triangles), sphere.triangles)


def translate(offset: Sequence[float]) -> F64:
    """A 4x4 translation matrix."""
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def scale(factors: Sequence[float]) -> F64:
    """A 4x4 scale matrix."""
    return np.diag([*factors, 1.0])


def rotate(axis: Vec3, degrees: float) -> F64:
    """A 4x4 rotation matrix about `axis` (Rodrigues)."""
    k = np.array(axis) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    matrix = np.eye(4)
    matrix[:3, :3] = np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)
    return matrix


def along(start: Vec3, end: Vec3) -> F64:
    """The matrix taking the +Y axis segment [0, |end - start|] onto the segment from `start` to `end`."""
    direction = np.array(end) - np.array(start)
    unit = direction / np.linalg.norm(direction)
    axis = np.cross([0.0, 1.0, 0.0], unit)
    sine = float(np.linalg.norm(axis))
    matrix = np.eye(4)
    if sine > 1e-9:
        angle = float(np.degrees(np.arctan2(sine, unit[1])))
        matrix = rotate((float(axis[0]), float(axis[1]), float(axis[2])), angle)
    elif unit[1] < 0:
        matrix = rotate((1.0, 0.0, 0.0), 180.0)
    return translate(start) @ matrix


def limb(start: Vec3, end: Vec3, radius: float, segments: int = 8, cap_rings: int = 2) -> Geometry:
    """A capsule whose spherical ends are centred on `start` and `end`."""
    length = float(np.linalg.norm(np.array(end) - np.array(start)))
    body = capsule(radius, length + 2.0 * radius, segments, cap_rings)
    return body.transformed(along(start, end) @ translate((0.0, -radius, 0.0)))
