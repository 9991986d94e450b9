"""The knowledge service: knowledge bases, document ingestion, embeddings and hybrid search."""
