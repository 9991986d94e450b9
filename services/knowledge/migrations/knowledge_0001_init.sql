-- Knowledge service schema: knowledge bases, documents (with their uploaded bytes), chunks with embeddings and
-- full text, and the outbox that carries ingestion jobs to RabbitMQ.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_knowledge') THEN
    CREATE ROLE avatarchat_knowledge NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_knowledge TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS knowledge;
GRANT USAGE ON SCHEMA knowledge TO avatarchat_knowledge;

CREATE TABLE knowledge.knowledge_bases (
  id                  uuid PRIMARY KEY,
  tenant_id           uuid NOT NULL,
  display_name        text NOT NULL,
  description         text NOT NULL DEFAULT '',
  embedding_model     text NOT NULL,
  chunk_size          integer NOT NULL,
  chunk_overlap       integer NOT NULL,
  knowledge_version   bigint NOT NULL DEFAULT 0,
  create_time         timestamptz NOT NULL DEFAULT now(),
  update_time         timestamptz NOT NULL DEFAULT now(),
  -- When searchable content last changed; NULL until the first document is ready.
  content_update_time timestamptz
);
CREATE UNIQUE INDEX knowledge_bases_display_name ON knowledge.knowledge_bases (tenant_id, lower(display_name));
CREATE INDEX knowledge_bases_page ON knowledge.knowledge_bases (tenant_id, create_time, id);

-- One source of knowledge. An upload keeps its bytes here until the document is deleted, so a retry or a
-- restarted worker can always read them again.
CREATE TABLE knowledge.documents (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL,
  knowledge_base_id uuid NOT NULL REFERENCES knowledge.knowledge_bases (id) ON DELETE CASCADE,
  title             text NOT NULL DEFAULT '',
  source_kind       text NOT NULL CHECK (source_kind IN ('upload', 'url')),
  filename          text NOT NULL DEFAULT '',
  declared_mime     text NOT NULL DEFAULT '',
  content           bytea,
  url               text NOT NULL DEFAULT '',
  url_mode          text NOT NULL DEFAULT '' CHECK (url_mode IN ('', 'single_page', 'sitemap')),
  max_pages         integer NOT NULL DEFAULT 0,
  mime_type         text NOT NULL DEFAULT '',
  state             text NOT NULL CHECK (state IN ('queued', 'processing', 'ready', 'failed')),
  failure_reason    text NOT NULL DEFAULT '',
  progress_percent  integer NOT NULL DEFAULT 0,
  chunk_count       bigint NOT NULL DEFAULT 0,
  token_count       bigint NOT NULL DEFAULT 0,
  size_bytes        bigint NOT NULL DEFAULT 0,
  content_sha256    text NOT NULL DEFAULT '',
  attempt_count     integer NOT NULL DEFAULT 0,
  page_count        integer NOT NULL DEFAULT 0,
  create_time       timestamptz NOT NULL DEFAULT now(),
  update_time       timestamptz NOT NULL DEFAULT now()
);
-- Same content twice in one knowledge base is stored once.
CREATE UNIQUE INDEX documents_content ON knowledge.documents (knowledge_base_id, content_sha256)
  WHERE content_sha256 <> '';
CREATE INDEX documents_page ON knowledge.documents (knowledge_base_id, create_time DESC, id DESC);

-- One embedded piece of a document. The vector size is MiniLM's; another model needs its own migration.
CREATE TABLE knowledge.chunks (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL,
  knowledge_base_id uuid NOT NULL,
  document_id       uuid NOT NULL REFERENCES knowledge.documents (id) ON DELETE CASCADE,
  -- The processing attempt that wrote the chunk: one attempt's chunks are committed together or not at all.
  attempt           integer NOT NULL,
  chunk_index       integer NOT NULL,
  text              text NOT NULL,
  token_count       integer NOT NULL,
  title_path        text[] NOT NULL DEFAULT '{}',
  page_number       integer NOT NULL DEFAULT 0,
  char_start        integer NOT NULL,
  char_end          integer NOT NULL,
  url               text NOT NULL DEFAULT '',
  content_sha256    text NOT NULL,
  embedding         vector(384) NOT NULL,
  tsv               tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
  UNIQUE (document_id, chunk_index)
);
CREATE INDEX chunks_embedding ON knowledge.chunks USING hnsw (embedding vector_cosine_ops)
  WITH (m = 16, ef_construction = 64);
CREATE INDEX chunks_tsv ON knowledge.chunks USING gin (tsv);
CREATE INDEX chunks_kb ON knowledge.chunks (tenant_id, knowledge_base_id);

ALTER TABLE knowledge.knowledge_bases ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge.knowledge_bases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge.knowledge_bases
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE knowledge.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge.documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge.documents
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE knowledge.chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge.chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge.chunks
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON knowledge.knowledge_bases, knowledge.documents, knowledge.chunks
  TO avatarchat_knowledge;

CREATE TABLE knowledge.outbox (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL UNIQUE,
  tenant_id   uuid,
  exchange    text NOT NULL,
  routing_key text NOT NULL,
  payload     jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  sent_time   timestamptz
);
CREATE INDEX outbox_pending ON knowledge.outbox (id) WHERE sent_time IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON knowledge.outbox TO avatarchat_knowledge;
GRANT USAGE ON SEQUENCE knowledge.outbox_id_seq TO avatarchat_knowledge;
