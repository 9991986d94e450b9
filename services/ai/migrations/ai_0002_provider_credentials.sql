-- Tenants' own provider keys, sealed (AES-256-GCM, bound to tenant, provider and base URL); one per provider.
CREATE TABLE ai.provider_credentials (
  tenant_id   uuid NOT NULL,
  provider    text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'gemini')),
  base_url    text NOT NULL DEFAULT '',
  sealed_key  bytea NOT NULL,
  update_user text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, provider)
);

ALTER TABLE ai.provider_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.provider_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai.provider_credentials
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON ai.provider_credentials TO avatarchat_ai;
