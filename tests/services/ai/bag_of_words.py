"""A deterministic bag-of-words embedder: a real (if crude) alternative implementation of the embedder protocol."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9']+")
_IGNORED_TEXT = "a an the is are was to of in on for and or it this that my your i i'm you me we be do"
_IGNORED = frozenset(_IGNORED_TEXT.split())


class BagOfWordsEmbedder:
    """Hashes each content word into one of `dimensions` buckets; texts sharing words point the same way."""

    def __init__(self, dimensions: int = 512) -> None:
        self.dimensions = dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One count vector per text."""
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimensions
            for word in _WORD.findall(text.lower()):
                if word not in _IGNORED:
                    vector[zlib.crc32(word.encode()) % self.dimensions] += 1.0
            vectors.append(vector)
        return vectors
