"""Fixtures of the knowledge library tests: the MiniLM embedder and tokenizer (loaded once), the PostgreSQL manual."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.knowledge.embedding import MiniLmEmbedder
from services.knowledge.tokens import WordPieceCounter, minilm_token_counter

#: Where Debian's postgresql-doc-15 package puts the HTML manual (`apt-get install -y postgresql-doc-15`).
POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@pytest.fixture(scope="session")
def counter() -> WordPieceCounter:
    """The MiniLM tokenizer's counter."""
    return minilm_token_counter()


@pytest.fixture(scope="session")
async def minilm_embedder() -> AsyncIterator[MiniLmEmbedder]:
    """The local embedder with its model loaded, once for the whole session."""
    embedder = MiniLmEmbedder(batch_size=32, threads=2)
    await embedder.load()
    yield embedder
    await embedder.aclose()


@pytest.fixture(scope="session")
def postgres_docs() -> Path:
    """The PostgreSQL 15 HTML manual; skips the test when the Debian package is not installed."""
    if not (POSTGRES_DOCS / "index.html").is_file():
        pytest.skip(f"PostgreSQL manual not installed at {POSTGRES_DOCS} (apt-get install -y postgresql-doc-15)")
    return POSTGRES_DOCS
