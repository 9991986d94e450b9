-- Tenant service schema: plans, shards, tenants and usage counters.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_tenant') THEN
    CREATE ROLE avatarchat_tenant NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_tenant TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS tenant;
GRANT USAGE ON SCHEMA tenant TO avatarchat_tenant;

-- Subscription tiers; -1 means unlimited. Versioned here so every environment offers the same plans.
CREATE TABLE tenant.plans (
  id                   text PRIMARY KEY,
  display_name         text NOT NULL,
  monthly_price_micros bigint NOT NULL,
  currency_code        text NOT NULL DEFAULT 'USD',
  chatbots             bigint NOT NULL,
  messages_per_month   bigint NOT NULL,
  knowledge_documents  bigint NOT NULL,
  storage_bytes        bigint NOT NULL,
  seats                bigint NOT NULL,
  sort_order           int NOT NULL
);
INSERT INTO tenant.plans VALUES
  ('free',       'Free',         0,          'USD', 2,  500,    20,   104857600,    2,  1),
  ('starter',    'Starter',      29000000,   'USD', 5,  5000,   200,  1073741824,   5,  2),
  ('pro',        'Pro',          99000000,   'USD', 20, 50000,  2000, 10737418240,  20, 3),
  ('enterprise', 'Enterprise',   499000000,  'USD', -1, -1,     -1,   -1,           -1, 4);

-- Database shards a tenant can be placed on; `default` is the service's own database.
CREATE TABLE tenant.shards (
  id         text PRIMARY KEY,
  accepting  boolean NOT NULL DEFAULT true,
  create_time timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenant.shards (id) VALUES ('default');

CREATE TABLE tenant.tenants (
  id           uuid PRIMARY KEY,
  slug         text NOT NULL UNIQUE,
  display_name text NOT NULL,
  state        text NOT NULL CHECK (state IN ('provisioning', 'active', 'suspended')),
  plan_id      text NOT NULL REFERENCES tenant.plans (id),
  shard_id     text NOT NULL REFERENCES tenant.shards (id),
  config       jsonb NOT NULL DEFAULT '{}'::jsonb,
  owner_email  text NOT NULL,
  owner_user   text NOT NULL DEFAULT '',
  create_time  timestamptz NOT NULL DEFAULT now(),
  update_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_created ON tenant.tenants (create_time DESC, id DESC);

-- Usage counted against plan limits: gauges use period '', monthly counters 'YYYY-MM'.
CREATE TABLE tenant.usage (
  tenant_id uuid NOT NULL REFERENCES tenant.tenants (id) ON DELETE CASCADE,
  kind      text NOT NULL,
  period    text NOT NULL,
  used      bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
  PRIMARY KEY (tenant_id, kind, period)
);

-- A transaction scoped to a tenant sees only that tenant; platform transactions (no tenant) see all.
ALTER TABLE tenant.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant.tenants
  USING (coalesce(current_setting('app.tenant_id', true), '') = ''
         OR id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (coalesce(current_setting('app.tenant_id', true), '') = ''
              OR id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE tenant.usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant.usage
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT ON tenant.plans TO avatarchat_tenant;
GRANT SELECT, INSERT, UPDATE ON tenant.shards TO avatarchat_tenant;
GRANT SELECT, INSERT, UPDATE ON tenant.tenants TO avatarchat_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant.usage TO avatarchat_tenant;
