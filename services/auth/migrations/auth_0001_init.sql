-- Auth service schema: users (with room for external identities), API keys and signing keys.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_auth') THEN
    CREATE ROLE avatarchat_auth NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_auth TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO avatarchat_auth;

-- A person who signs in to one tenant; the same e-mail in two tenants is two users.
CREATE TABLE auth.users (
  id              uuid PRIMARY KEY,
  tenant_id       uuid NOT NULL,
  email           citext NOT NULL,
  display_name    text NOT NULL DEFAULT '',
  role            text NOT NULL CHECK (role IN ('member', 'admin', 'owner', 'platform_admin')),
  -- NULL for invited users and users who only sign in through an external identity.
  password_hash   text,
  last_login_time timestamptz,
  create_time     timestamptz NOT NULL DEFAULT now(),
  update_time     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, email),
  -- Lets child tables reference (tenant_id, id), so a child can never point into another tenant.
  UNIQUE (tenant_id, id)
);
CREATE INDEX users_page ON auth.users (tenant_id, create_time, id);
CREATE INDEX users_owners ON auth.users (tenant_id) WHERE role IN ('owner', 'platform_admin');

-- OIDC/SAML subjects linked to a user; kept apart so SSO can be added without reshaping users.
CREATE TABLE auth.external_identities (
  tenant_id   uuid NOT NULL,
  user_id     uuid NOT NULL,
  issuer      text NOT NULL,
  subject     text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, issuer, subject),
  FOREIGN KEY (tenant_id, user_id) REFERENCES auth.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX external_identities_user ON auth.external_identities (tenant_id, user_id);

-- Server-to-server credentials; only a SHA-256 of the secret is kept.
CREATE TABLE auth.api_keys (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  display_name   text NOT NULL,
  scopes         text[] NOT NULL,
  prefix         text NOT NULL,
  secret_hash    bytea NOT NULL UNIQUE,
  created_by     text NOT NULL DEFAULT '',
  expire_time    timestamptz,
  last_used_time timestamptz,
  create_time    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_page ON auth.api_keys (tenant_id, create_time, id);

-- Platform-wide ES256 keys; the private half is AES-GCM encrypted under a key derived from the
-- internal secret. At most one key is active (retire_time NULL); retired ones stay published a while.
CREATE TABLE auth.signing_keys (
  kid         text PRIMARY KEY,
  public_jwk  jsonb NOT NULL,
  private_key bytea NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  retire_time timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON auth.signing_keys ((true)) WHERE retire_time IS NULL;

-- NULLIF: a pooled connection that once set app.tenant_id reads '' afterwards, and ''::uuid fails.
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth.users
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE auth.external_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.external_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth.external_identities
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE auth.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth.api_keys
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- The migration user (owner of the lookup function below) may read any key; the service role may not.
CREATE POLICY api_key_lookup ON auth.api_keys FOR SELECT TO CURRENT_USER USING (true);

-- An API key arrives before its tenant is known: this function finds exactly one key by id and
-- secret hash, running as its owner so the service role needs no cross-tenant read right.
CREATE FUNCTION auth.find_api_key(p_id uuid, p_secret_hash bytea)
RETURNS TABLE (id uuid, tenant_id uuid, scopes text[], expire_time timestamptz, last_used_time timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT k.id, k.tenant_id, k.scopes, k.expire_time, k.last_used_time
  FROM auth.api_keys AS k
  WHERE k.id = p_id AND k.secret_hash = p_secret_hash
$$;
REVOKE ALL ON FUNCTION auth.find_api_key(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.find_api_key(uuid, bytea) TO avatarchat_auth;

GRANT SELECT, INSERT, UPDATE, DELETE ON auth.users TO avatarchat_auth;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.external_identities TO avatarchat_auth;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.api_keys TO avatarchat_auth;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.signing_keys TO avatarchat_auth;
