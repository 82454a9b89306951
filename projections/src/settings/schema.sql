-- The settings read model (version 2: who made the latest change): integrations per workspace and channel. Never secrets.
CREATE TABLE integrations (
    integration_id  uuid PRIMARY KEY,
    workspace_id    text        NOT NULL,
    channel         text        NOT NULL,
    name            text        NOT NULL,
    status          text        NOT NULL,
    account         jsonb       NOT NULL DEFAULT '{}',
    settings        jsonb       NOT NULL DEFAULT '{}',
    last_error      text,
    updated_by      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX integrations_by_workspace ON integrations (workspace_id, channel, created_at, integration_id);
