-- The settings read model (version 2: who made the latest change; version 3: the platform
-- apps): integrations per workspace and channel, and each channel's platform credentials'
-- status. Never secrets.
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

-- Each channel's platform credentials as the operator set them: status and field names only.
CREATE TABLE platform_apps (
    channel      text PRIMARY KEY,
    status       text        NOT NULL,
    fields       text[]      NOT NULL DEFAULT '{}',
    check_method text,
    verified_at  timestamptz,
    refusal      text,
    updated_by   text,
    updated_at   timestamptz NOT NULL
);
