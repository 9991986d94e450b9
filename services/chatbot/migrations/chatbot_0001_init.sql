-- Chatbot service schema: chatbots (personality, placement, encrypted visitor secret) and the embed-id directory.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_chatbot') THEN
    CREATE ROLE avatarchat_chatbot NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_chatbot TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS chatbot;
GRANT USAGE ON SCHEMA chatbot TO avatarchat_chatbot;

-- One embeddable assistant of a tenant. Personality and placement are the proto messages as JSON
-- (field names as in the proto), so adding a field to the contract needs no migration.
CREATE TABLE chatbot.chatbots (
  id                         uuid PRIMARY KEY,
  tenant_id                  uuid NOT NULL,
  display_name               text NOT NULL,
  state                      text NOT NULL CHECK (state IN ('active', 'paused')),
  embed_id                   text NOT NULL,
  avatar                     text NOT NULL DEFAULT '',
  knowledge_bases            text[] NOT NULL DEFAULT '{}',
  personality                jsonb NOT NULL DEFAULT '{}'::jsonb,
  placement                  jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- AES-256-GCM (version byte, nonce, ciphertext) bound to (tenant_id, id); NULL until first rotated.
  visitor_secret             bytea,
  visitor_secret_rotate_time timestamptz,
  create_time                timestamptz NOT NULL DEFAULT now(),
  update_time                timestamptz NOT NULL DEFAULT now(),
  CHECK ((visitor_secret IS NULL) = (visitor_secret_rotate_time IS NULL))
);
CREATE UNIQUE INDEX chatbots_embed_id ON chatbot.chatbots (embed_id);
CREATE INDEX chatbots_page ON chatbot.chatbots (tenant_id, create_time, id);

-- Which tenant and chatbot an embed id belongs to. Public calls (GetEmbedConfig, ResolveEmbed) know only
-- the embed id, so this index is readable without a tenant; it holds nothing but ids. The chatbot row
-- stays the source of truth: a lookup also requires chatbots.embed_id to match, so a stale row resolves
-- to nothing. It lives on the default shard while chatbots follow their tenant's shard.
CREATE TABLE chatbot.embed_ids (
  embed_id    text PRIMARY KEY,
  tenant_id   uuid NOT NULL,
  chatbot_id  uuid NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX embed_ids_chatbot ON chatbot.embed_ids (chatbot_id);

ALTER TABLE chatbot.chatbots ENABLE ROW LEVEL SECURITY;
ALTER TABLE chatbot.chatbots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chatbot.chatbots
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Platform transactions (no tenant) see every embed id; tenant transactions only their own.
ALTER TABLE chatbot.embed_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE chatbot.embed_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chatbot.embed_ids
  USING (coalesce(current_setting('app.tenant_id', true), '') = ''
         OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (coalesce(current_setting('app.tenant_id', true), '') = ''
              OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON chatbot.chatbots TO avatarchat_chatbot;
GRANT SELECT, INSERT, DELETE ON chatbot.embed_ids TO avatarchat_chatbot;
