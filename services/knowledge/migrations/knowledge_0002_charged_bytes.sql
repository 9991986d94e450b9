-- Bytes of the plan's storage limit a document holds: charged when its content is stored (upload) or fetched
-- (URL import, when it becomes ready), and given back when the document is deleted.
ALTER TABLE knowledge.documents ADD COLUMN charged_bytes bigint NOT NULL DEFAULT 0;
