-- Workspace API keys. Only a SHA-256 of each key's secret is kept: the secret itself is shown
-- once, when the key is created. Keys are revoked, never deleted, so the actor ids recorded in
-- event metadata stay resolvable.
CREATE TABLE IF NOT EXISTS api_keys
(
    key_id        uuid PRIMARY KEY,
    workspace_id  text        NOT NULL,
    name          text        NOT NULL,
    scopes        text[]      NOT NULL,
    secret_sha256 bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz
);

CREATE INDEX IF NOT EXISTS api_keys_by_workspace ON api_keys (workspace_id, created_at);
