-- OAuth connect flows in progress: one row per authorization URL handed out
-- (`POST /v1/workspaces/{ws}/integrations/{id}/oauth/authorize`), taken by the platform's
-- callback (`GET /oauth/{channel}/callback`) with `DELETE … RETURNING`, so a state is used at
-- most once. The state the browser carries is signed and names this row's id; the row binds it
-- to the workspace, integration and channel, and keeps what the callback needs: the PKCE
-- verifier (sealed, never plaintext), the account the caller asked for and the caller as the
-- actor of the connect. Rows past `expires_at` are refused and swept by later authorizations.
CREATE TABLE IF NOT EXISTS oauth_states
(
    id             uuid PRIMARY KEY,
    workspace_id   text        NOT NULL,
    integration_id uuid        NOT NULL,
    channel        text        NOT NULL,
    pkce_verifier  text,
    account_hint   text,
    actor          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);

-- Sweeping expired rows.
CREATE INDEX IF NOT EXISTS oauth_states_by_expiry ON oauth_states (expires_at);
