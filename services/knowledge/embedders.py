"""The embedder and its chunk window as configured; shared by the service (queries) and the worker (documents)."""

from __future__ import annotations

from services.knowledge import minilm_files
from services.knowledge.embedding import Embedder, MiniLmEmbedder, make_embedder
from services.knowledge.settings import KnowledgeSettings

#: Word pieces a chunk may hold for MiniLM: its 256-piece window less [CLS] and [SEP].
MINILM_WINDOW = minilm_files.MAX_SEQUENCE_TOKENS - 2
#: Chunk cap for remote models, whose windows are far larger than any chunk size the contract allows.
REMOTE_WINDOW = 2048


def embedder_from(settings: KnowledgeSettings) -> Embedder:
    """The configured embedder (the MiniLM model itself loads once per process, on first use)."""
    if settings.knowledge_embedder.strip().lower() in ("openai", "openai-compatible"):
        return make_embedder(
            "openai",
            base_url=settings.knowledge_embedder_base_url,
            model=settings.knowledge_embedder_model,
            dimensions=settings.knowledge_embedder_dimensions,
            api_key=settings.knowledge_embedder_api_key,
            batch_size=settings.knowledge_embed_batch_size,
        )
    return make_embedder(settings.knowledge_embedder, batch_size=settings.knowledge_embed_batch_size)


def chunk_window(embedder: Embedder) -> int:
    """Most tokens per chunk the embedder reads in full."""
    return MINILM_WINDOW if isinstance(embedder, MiniLmEmbedder) else REMOTE_WINDOW
