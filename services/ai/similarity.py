"""The embedder protocol the AI domain uses, and cosine similarity over its vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class TextEmbedder(Protocol):
    """Anything that embeds texts (the knowledge service's Embedder fits)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, all of one dimension."""
        ...


def unit_rows(vectors: Sequence[Sequence[float]]) -> npt.NDArray[np.float32]:
    """Vectors as rows of unit length (zero vectors stay zero), so dot products are cosines."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        matrix = matrix.reshape(len(vectors), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit
