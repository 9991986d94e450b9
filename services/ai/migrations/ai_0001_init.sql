-- AI service schema: one usage row per generated answer, priced with the versioned price table.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_ai') THEN
    CREATE ROLE avatarchat_ai NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_ai TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS ai;
GRANT USAGE ON SCHEMA ai TO avatarchat_ai;

-- Append-only: what each answer cost; GetCosts sums it by chatbot and UTC day.
CREATE TABLE ai.usage (
  id                  bigserial PRIMARY KEY,
  tenant_id           uuid NOT NULL,
  chatbot_id          uuid NOT NULL,
  conversation_id     uuid,
  request_id          text NOT NULL DEFAULT '',
  provider            text NOT NULL,
  model               text NOT NULL,
  input_tokens        bigint NOT NULL,
  output_tokens       bigint NOT NULL,
  cost_micros         bigint NOT NULL,
  currency_code       text NOT NULL,
  price_table_version text NOT NULL,
  priced              boolean NOT NULL,
  cached              boolean NOT NULL,
  create_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_period ON ai.usage (tenant_id, create_time, chatbot_id);

ALTER TABLE ai.usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai.usage
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT ON ai.usage TO avatarchat_ai;
GRANT USAGE ON SEQUENCE ai.usage_id_seq TO avatarchat_ai;
