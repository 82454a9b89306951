-- Client idempotency keys of send requests: the same key in a workspace always names the same
-- message, so a retried request produces no second send. `produced_at` is set once the broker
-- acknowledged the command; a retry of a request that crashed before that produces it again.
CREATE TABLE IF NOT EXISTS send_requests
(
    workspace_id    text        NOT NULL,
    idempotency_key text        NOT NULL,
    message_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    request_hash    text        NOT NULL,
    produced_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, idempotency_key)
);
