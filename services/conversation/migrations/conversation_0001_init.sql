-- Conversation service schema: conversations, their messages, and the outbox of domain events.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'avatarchat_conversation') THEN
    CREATE ROLE avatarchat_conversation NOLOGIN;
  END IF;
END
$$;
GRANT avatarchat_conversation TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS conversation;
GRANT USAGE ON SCHEMA conversation TO avatarchat_conversation;

-- One chat session of a visitor with a chatbot.
CREATE TABLE conversation.conversations (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL,
  chatbot_id        uuid NOT NULL,
  visitor_id        text NOT NULL,
  visitor_verified  boolean NOT NULL DEFAULT false,
  state             text NOT NULL CHECK (state IN ('active', 'ended')),
  channel           smallint NOT NULL,
  page_url          text NOT NULL DEFAULT '',
  metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
  message_count     bigint NOT NULL DEFAULT 0,
  create_time       timestamptz NOT NULL DEFAULT now(),
  last_message_time timestamptz,
  end_time          timestamptz
);
CREATE INDEX conversations_visitor ON conversation.conversations (tenant_id, chatbot_id, visitor_id, create_time DESC, id DESC);

-- Messages in order (position is 1-based within the conversation). Assistant answers carry what they cost;
-- citations and sentiment are the ai.v1 messages as JSON (proto field names).
CREATE TABLE conversation.messages (
  id                  uuid PRIMARY KEY,
  tenant_id           uuid NOT NULL,
  conversation_id     uuid NOT NULL REFERENCES conversation.conversations (id) ON DELETE CASCADE,
  position            bigint NOT NULL,
  role                smallint NOT NULL,
  state               smallint NOT NULL,
  text                text NOT NULL,
  citations           jsonb NOT NULL DEFAULT '[]'::jsonb,
  provider            text NOT NULL DEFAULT '',
  model               text NOT NULL DEFAULT '',
  input_tokens        bigint NOT NULL DEFAULT 0,
  output_tokens       bigint NOT NULL DEFAULT 0,
  cost_micros         bigint NOT NULL DEFAULT 0,
  currency_code       text NOT NULL DEFAULT '',
  cached              boolean NOT NULL DEFAULT false,
  first_token_ms      double precision,
  sentiment           jsonb,
  intent              smallint NOT NULL DEFAULT 0,
  intent_confidence   real NOT NULL DEFAULT 0,
  finish_reason       smallint NOT NULL DEFAULT 0,
  request_id          text NOT NULL DEFAULT '',
  create_time         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (conversation_id, position)
);
-- A request id is an idempotency key: one visitor message (and one answer) per key and conversation.
CREATE UNIQUE INDEX messages_request ON conversation.messages (conversation_id, request_id, role) WHERE request_id <> '';

ALTER TABLE conversation.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation.conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation.conversations
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE conversation.messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation.messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation.messages
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON conversation.conversations TO avatarchat_conversation;
GRANT SELECT, INSERT, UPDATE ON conversation.messages TO avatarchat_conversation;

-- Domain events (message.created, conversation.ended), written in the transaction of their change.
CREATE TABLE conversation.outbox (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL UNIQUE,
  tenant_id   uuid,
  exchange    text NOT NULL,
  routing_key text NOT NULL,
  payload     jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  sent_time   timestamptz
);
CREATE INDEX outbox_pending ON conversation.outbox (id) WHERE sent_time IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON conversation.outbox TO avatarchat_conversation;
GRANT USAGE ON SEQUENCE conversation.outbox_id_seq TO avatarchat_conversation;
