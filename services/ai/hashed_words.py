"""A dependency-free text embedder for intent classification: content words hashed into buckets."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9']+")
_IGNORED_TEXT = "a an the is are was to of in on for and or it this that my your i i'm you me we be do"
_IGNORED = frozenset(_IGNORED_TEXT.split(" "))


class HashedWordsEmbedder:
    """Texts that share content words point the same way; crude but instant and keeps torch out of the process."""

    def __init__(self, dimensions: int = 512) -> None:
        self._dimensions = dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One count vector per text."""
        vectors = []
        for text in texts:
            vector = [0.0] * self._dimensions
            for word in _WORD.findall(text.lower()):
                if word not in _IGNORED:
                    vector[zlib.crc32(word.encode()) % self._dimensions] += 1.0
            vectors.append(vector)
        return vectors
