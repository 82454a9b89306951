-- OAuth connect flows bound to the admin's browser (login CSRF). The authorize step hands its
-- caller a one-time browser binding secret and keeps only its SHA-256 (`binding_hash`) with the
-- state. The platform's callback trades the code and leaves the outcome here, pending: the
-- tokens sealed (under the integration's data key, as all its secrets), no event recorded.
-- Only `POST /v1/workspaces/{ws}/integrations/{id}/oauth/complete`, by an admin of the
-- workspace presenting the outcome id and the binding whose hash matches, takes the row (with
-- `DELETE … RETURNING`, so once) and records `IntegrationConnected`. Rows past `expires_at`
-- are refused and purged.
ALTER TABLE oauth_states ADD COLUMN IF NOT EXISTS binding_hash text;

CREATE TABLE IF NOT EXISTS oauth_outcomes
(
    id             uuid PRIMARY KEY,
    workspace_id   text        NOT NULL,
    integration_id uuid        NOT NULL,
    channel        text        NOT NULL,
    binding_hash   text        NOT NULL,
    auth           text        NOT NULL,
    account        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);

-- Purging expired rows.
CREATE INDEX IF NOT EXISTS oauth_outcomes_by_expiry ON oauth_outcomes (expires_at);
