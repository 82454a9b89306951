-- Client idempotency keys of action requests: the same key in a workspace always names the same
-- action, so a retried request produces no second `ActionRequested` and the action runs once.
-- `produced_at` is set once the broker acknowledged the request; a retry of a request that
-- crashed before that produces it again (with the same action id).
CREATE TABLE IF NOT EXISTS action_requests
(
    workspace_id    text        NOT NULL,
    idempotency_key text        NOT NULL,
    action_id       uuid        NOT NULL,
    integration_id  uuid        NOT NULL,
    request_hash    text        NOT NULL,
    produced_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, idempotency_key)
);

-- Actions the adapters completed, with their outcome: a request delivered again after its
-- result was published (a crash or rebalance before the offset commit) republishes the stored
-- outcome instead of performing the action a second time. Failures are not kept: a redriven
-- request that failed runs again.
CREATE TABLE IF NOT EXISTS action_runs
(
    action_id   uuid        PRIMARY KEY,
    outcome     jsonb       NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
