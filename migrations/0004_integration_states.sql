-- The current state of every integration: the aggregate folded from its events, written in the
-- transaction that appends those events (adapters/src/store/integrations/event_store.rs), so a
-- lookup reads one row instead of folding the whole history. `last_sequence` is the sequence
-- of the last event folded into `state`; a reader applies any later event on top (events
-- appended by a process that predates this table, during a rolling deploy).
--
-- Integrations created before this migration have no row. They are not backfilled here (the
-- state is a Rust fold): a read folds their events and writes the row back, and so does their
-- next command. The plain columns are copies of fields of `state`, for filtering and ordering;
-- workspace and channel never change after creation, and `deleted` is final.
CREATE TABLE IF NOT EXISTS integration_states
(
    aggregate_id  text PRIMARY KEY,
    last_sequence bigint      NOT NULL CHECK (last_sequence > 0),
    workspace_id  text        NOT NULL,
    channel       text        NOT NULL,
    status        text        NOT NULL,
    created_at    timestamptz NOT NULL,
    state         json        NOT NULL,
    written_at    timestamptz NOT NULL DEFAULT now()
);

-- Listing a workspace's live integrations, optionally of one channel, oldest first.
CREATE INDEX IF NOT EXISTS integration_states_by_workspace
    ON integration_states (workspace_id, channel, created_at, aggregate_id)
    WHERE status <> 'deleted';
