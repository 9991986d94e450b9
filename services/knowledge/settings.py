"""Settings of the knowledge service and its ingestion worker."""

from __future__ import annotations

from services.runtime.settings import RuntimeSettings


class KnowledgeSettings(RuntimeSettings):
    """Knowledge settings (`AVATARCHAT_KNOWLEDGE_<NAME>` for its own, `AVATARCHAT_<NAME>` for shared ones)."""

    knowledge_embedder: str = "minilm"
    """Embedder kind: `minilm` (local all-MiniLM-L6-v2) or `openai` (an OpenAI-compatible endpoint)."""

    knowledge_embedder_base_url: str = ""
    """Base URL of the OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000/v1`."""

    knowledge_embedder_model: str = ""
    """Model name sent to the OpenAI-compatible endpoint."""

    knowledge_embedder_api_key: str = ""
    """API key of the OpenAI-compatible endpoint; empty for servers without authentication."""

    knowledge_embedder_dimensions: int = 384
    """Vector length of the OpenAI-compatible model; the chunks table stores 384."""

    knowledge_embed_batch_size: int = 32
    """Texts per embedding batch; progress is reported after each batch."""

    knowledge_embed_delay_seconds: float = 0.0
    """Pause after each embedding batch; only for tests that need a slow worker (crash tests)."""

    knowledge_exchange: str = "document.events"
    """Topic exchange the ingestion events go to."""

    knowledge_queue: str = "knowledge.ingest"
    """Durable queue the ingestion worker consumes (`.retry` and `.dlq` are derived from it)."""

    knowledge_max_attempts: int = 4
    """Processing attempts of a document before it fails and its job goes to the dead-letter queue."""

    knowledge_backoff_seconds: tuple[float, ...] = (2.0, 10.0, 60.0)
    """Wait before each retry (the last value repeats)."""

    knowledge_worker_prefetch: int = 1
    """Documents a worker processes at once; one keeps the model's two cores busy."""

    knowledge_allow_private_urls: bool = False
    """Lets URL imports fetch private, loopback and link-local addresses (tests, on-premises setups)."""

    knowledge_fetch_timeout_seconds: float = 15.0
    """Deadline of each HTTP request of a URL import."""

    knowledge_max_fetch_bytes: int = 10 * 1024 * 1024
    """Largest page or sitemap a URL import downloads."""

    knowledge_hnsw_ef_search: int = 64
    """Candidates the HNSW index visits per vector search: recall against latency, and past ~100 the planner starts
    to prefer sorting a knowledge base of 10k chunks over the index (see bench/knowledge_bench.py)."""
