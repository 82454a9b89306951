-- The inbox's indexes that only queries use (see Projection::read_indexes_ddl): a rebuild
-- creates them after it has caught up.
CREATE INDEX IF NOT EXISTS inboxes_by_workspace ON inboxes (workspace_id, created_at, integration_id);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_key_unique ON conversations (conversation_key);
CREATE INDEX IF NOT EXISTS conversations_by_workspace ON conversations (workspace_id, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_inbox ON conversations (integration_id, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_status ON conversations (workspace_id, status, last_message_at DESC, id DESC);
