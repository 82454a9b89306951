-- The inbox's indexes that only queries use (see Projection::read_indexes_ddl): a rebuild
-- creates them after it has caught up.
CREATE INDEX IF NOT EXISTS inboxes_by_workspace ON inboxes (workspace_id, created_at, integration_id);
-- Named as the UNIQUE constraint of earlier builds' schemas was, so a rebuild they started
-- and this build resumes does not get a second one.
CREATE UNIQUE INDEX IF NOT EXISTS conversations_conversation_key_key ON conversations (conversation_key);
CREATE INDEX IF NOT EXISTS conversations_by_workspace ON conversations (workspace_id, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_inbox ON conversations (integration_id, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_status ON conversations (workspace_id, status, last_message_at DESC, id DESC);
