-- Transactional outbox: every event row gets an outbox row in the same transaction (trigger),
-- with a global position. The relay publishes unpublished rows in position order and marks
-- them one by one, so a row whose transaction commits late is never skipped.
CREATE TABLE IF NOT EXISTS outbox
(
    position       bigserial PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        json        NOT NULL,
    metadata       json        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at   timestamptz
);

CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE OR REPLACE FUNCTION events_to_outbox() RETURNS trigger AS $$
BEGIN
    INSERT INTO outbox (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type, NEW.event_version,
            NEW.payload, NEW.metadata);
    PERFORM pg_notify('switchboard_outbox', '');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_to_outbox ON events;
CREATE TRIGGER events_to_outbox AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_to_outbox();
