-- The message templates each integration's platform account holds (WhatsApp Business Account
-- templates), as the platform last listed them: a cache the send routes check a template
-- against and `GET …/templates` lists. A refresh replaces an integration's rows in one
-- transaction, so a reader sees the list before or after it, never half of it.
CREATE TABLE IF NOT EXISTS message_templates
(
    integration_id uuid        NOT NULL,
    workspace_id   text        NOT NULL,
    name           text        NOT NULL,
    language       text        NOT NULL,
    status         text        NOT NULL,
    category       text,
    components     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (integration_id, name, language)
);

-- When each integration's templates were last listed, so a send naming an unknown template
-- asks the platform again at most once a minute.
CREATE TABLE IF NOT EXISTS message_template_refreshes
(
    integration_id uuid        PRIMARY KEY,
    workspace_id   text        NOT NULL,
    refreshed_at   timestamptz NOT NULL,
    template_count integer     NOT NULL
);
