-- The event store of postgres-es 0.5 (pure event sourcing: no snapshot table is needed).
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- Listing a workspace's integrations starts from their creation events.
CREATE INDEX IF NOT EXISTS events_integration_created_by_workspace
    ON events ((payload ->> 'workspace_id'))
    WHERE aggregate_type = 'Integration' AND event_type = 'IntegrationCreated';
