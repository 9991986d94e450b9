-- Extensions every service may rely on: pgvector for embeddings, citext for case-insensitive e-mail.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS citext;
