"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure-style gateways, vLLM, Ollama,
LiteLLM, ...) through the official `openai` SDK."""

from __future__ import annotations

import math
from collections.abc import Sequence

import openai

from services.knowledge.errors import EmbeddingConfigError, EmbeddingError, EmbeddingUnavailableError


class OpenAICompatibleEmbedder:
    """Embeds texts by calling a remote embeddings endpoint in batches, with a deadline on every call."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimensions: int,
        api_key: str = "",
        batch_size: int = 256,
        timeout_seconds: float = 30.0,
        max_retries: int = 2,
        send_dimensions: bool = False,
    ) -> None:
        if not base_url or not model or dimensions < 1 or batch_size < 1 or timeout_seconds <= 0:
            raise EmbeddingConfigError(
                "an OpenAI-compatible embedder needs a base_url, a model, and positive dimensions, batch_size"
                " and timeout_seconds"
            )
        self._model = model
        self._dimensions = dimensions
        self._batch_size = batch_size
        self._send_dimensions = send_dimensions
        # Servers without authentication still need some key: the SDK refuses to start without one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout_seconds, max_retries=max_retries
        )

    @property
    def model(self) -> str:
        """The model id sent to the endpoint and stored with the vectors."""
        return self._model

    @property
    def dimensions(self) -> int:
        """Length of every vector; responses of another length are rejected."""
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        vectors: list[list[float]] = []
        for first in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(list(texts[first : first + self._batch_size])))
        return vectors

    async def aclose(self) -> None:
        """Closes the HTTP connection pool."""
        await self._client.close()

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        """One request for up to batch_size texts."""
        try:
            response = await self._client.embeddings.create(
                model=self._model,
                # The API rejects empty strings; a lone space embeds as "nothing" just the same.
                input=[text if text.strip() else " " for text in batch],
                encoding_format="float",
                dimensions=self._dimensions if self._send_dimensions else openai.omit,
            )
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            raise EmbeddingUnavailableError(f"embedding endpoint unavailable: {exc}") from None
        except openai.APIStatusError as exc:
            raise EmbeddingError(f"embedding endpoint answered {exc.status_code}: {exc.message}") from None
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embedding request failed: {exc}") from None
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(batch))):
            raise EmbeddingError(f"embedding endpoint returned {len(data)} vectors for {len(batch)} texts")
        return [self._unit(item.embedding) for item in data]

    def _unit(self, vector: Sequence[float]) -> list[float]:
        """The vector scaled to length 1, after checking its length; not every server normalises."""
        if len(vector) != self._dimensions:
            raise EmbeddingError(f"embedding endpoint returned {len(vector)} dimensions, expected {self._dimensions}")
        norm = math.sqrt(math.fsum(x * x for x in vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise EmbeddingError("embedding endpoint returned a zero or non-finite vector")
        return [x / norm for x in vector]
