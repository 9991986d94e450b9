"""Text embedders behind one protocol, and the factory that picks one from configuration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.knowledge.errors import EmbeddingConfigError
from services.knowledge.minilm import MiniLmEmbedder
from services.knowledge.openai_embedder import OpenAICompatibleEmbedder

__all__ = ["Embedder", "MiniLmEmbedder", "OpenAICompatibleEmbedder", "make_embedder"]


class Embedder(Protocol):
    """Turns texts into unit-length vectors, so cosine similarity is a dot product."""

    @property
    def model(self) -> str:
        """The model id stored with each vector; vectors of different models are never compared."""
        ...

    @property
    def dimensions(self) -> int:
        """Length of every vector (the pgvector column's size)."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in input order; an empty input gives an empty list."""
        ...

    async def aclose(self) -> None:
        """Releases connections or other resources."""
        ...


_MINILM_KINDS = frozenset({"minilm", "offline-minilm-l6", "all-minilm-l6-v2"})
_OPENAI_KINDS = frozenset({"openai", "openai-compatible"})


def make_embedder(kind: str, **options: Any) -> Embedder:
    """The embedder of `kind` ("minilm" or "openai"), built with `options` as its constructor's keywords."""
    name = kind.strip().lower()
    factory: type[MiniLmEmbedder] | type[OpenAICompatibleEmbedder]
    if name in _MINILM_KINDS:
        factory = MiniLmEmbedder
    elif name in _OPENAI_KINDS:
        factory = OpenAICompatibleEmbedder
    else:
        raise EmbeddingConfigError(f"unknown embedder kind {kind!r}; known: minilm, openai")
    try:
        return factory(**options)
    except TypeError as exc:
        raise EmbeddingConfigError(f"wrong options for the {name} embedder: {exc}") from None
