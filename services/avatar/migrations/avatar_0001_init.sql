-- Avatar service schema: tenants' avatars, which stored objects they reference, and the outbox.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_avatar') THEN
    CREATE ROLE avatarchat_avatar NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_avatar TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS avatar;
GRANT USAGE ON SCHEMA avatar TO avatarchat_avatar;

-- One uploaded model of a tenant. The bytes live in the object store under models/{content_sha256}.glb;
-- report, clips, morph targets, animation map and optimization are JSON documents the service owns.
CREATE TABLE avatar.avatars (
  id                    uuid PRIMARY KEY,
  tenant_id             uuid NOT NULL,
  display_name          text NOT NULL,
  filename              text NOT NULL,
  state                 text NOT NULL CHECK (state IN ('uploaded', 'validating', 'ready', 'invalid', 'optimizing')),
  content_sha256        text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
  original_size_bytes   bigint NOT NULL CHECK (original_size_bytes > 0),
  optimized_sha256      text NOT NULL DEFAULT '',
  optimized_size_bytes  bigint NOT NULL DEFAULT 0,
  report                jsonb,
  clips                 jsonb NOT NULL DEFAULT '[]'::jsonb,
  morph_targets         jsonb NOT NULL DEFAULT '[]'::jsonb,
  animation_map         jsonb NOT NULL DEFAULT '{}'::jsonb,
  optimization          jsonb,
  preview_state         text NOT NULL DEFAULT 'pending'
                        CHECK (preview_state IN ('pending', 'rendering', 'ready', 'failed')),
  preview_width         int NOT NULL DEFAULT 0,
  preview_height        int NOT NULL DEFAULT 0,
  preview_failure       text NOT NULL DEFAULT '',
  preview_render_time   timestamptz,
  create_time           timestamptz NOT NULL DEFAULT now(),
  update_time           timestamptz NOT NULL DEFAULT now()
);
-- Same bytes, same tenant: one avatar (UploadAvatar answers ALREADY_EXISTS naming it).
CREATE UNIQUE INDEX avatars_content ON avatar.avatars (tenant_id, content_sha256);
CREATE INDEX avatars_page ON avatar.avatars (tenant_id, create_time DESC, id DESC);

-- Which avatar uses which stored object. Objects are shared by content across tenants, so one is deleted
-- only when no reference is left; platform transactions (no tenant) see every reference for that check.
-- tenant_id NULL marks the platform's own objects (the default avatar), which are never deleted.
CREATE TABLE avatar.object_refs (
  object_key  text NOT NULL,
  avatar_id   uuid NOT NULL,
  tenant_id   uuid,
  PRIMARY KEY (object_key, avatar_id)
);
CREATE INDEX object_refs_avatar ON avatar.object_refs (avatar_id);

ALTER TABLE avatar.avatars ENABLE ROW LEVEL SECURITY;
ALTER TABLE avatar.avatars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON avatar.avatars
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE avatar.object_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE avatar.object_refs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON avatar.object_refs
  USING (coalesce(current_setting('app.tenant_id', true), '') = ''
         OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (coalesce(current_setting('app.tenant_id', true), '') = ''
              OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON avatar.avatars TO avatarchat_avatar;
GRANT SELECT, INSERT, DELETE ON avatar.object_refs TO avatarchat_avatar;

-- Transactional outbox (services.runtime.outbox.OUTBOX_DDL with schema avatar, role avatarchat_avatar).
CREATE TABLE avatar.outbox (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL UNIQUE,
  tenant_id   uuid,
  exchange    text NOT NULL,
  routing_key text NOT NULL,
  payload     jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  sent_time   timestamptz
);
CREATE INDEX outbox_pending ON avatar.outbox (id) WHERE sent_time IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON avatar.outbox TO avatarchat_avatar;
GRANT USAGE ON SEQUENCE avatar.outbox_id_seq TO avatarchat_avatar;
