-- Per-owner data keys (envelope encryption, adapters/src/store/data_keys.rs): every owner of
-- sealed secrets (an integration, by its id; a platform credential set, `platform:<channel>`)
-- has one random data key that seals its secrets (`sb2:` texts). The key is stored only
-- wrapped (sealed) by the configured key-encryption keyring, under the keyring key `kek_id`.
--
-- Destroying a key (crypto-shredding) clears `wrapped_key` and `kek_id` and sets
-- `destroyed_at`; the row stays as a tombstone, so no new key is ever made for that owner and
-- nothing can be sealed for it again. Events are immutable, so this is how a deleted
-- integration's secrets in its events, outbox rows and topic records become unreadable.
CREATE TABLE IF NOT EXISTS data_keys
(
    owner        text PRIMARY KEY,
    wrapped_key  text,
    kek_id       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz,
    destroyed_at timestamptz,
    CONSTRAINT data_keys_live_or_destroyed CHECK (
        (wrapped_key IS NOT NULL AND kek_id IS NOT NULL AND destroyed_at IS NULL)
            OR (wrapped_key IS NULL AND kek_id IS NULL AND destroyed_at IS NOT NULL))
);

-- Deleting an integration destroys its data key in the transaction that records the
-- deletion, whichever process commits it. An integration without a key (its secrets predate
-- this table, or it never had any) gets a tombstone, so it never gets a key afterwards.
CREATE OR REPLACE FUNCTION integration_deleted_destroys_data_key() RETURNS trigger AS $$
BEGIN
    INSERT INTO data_keys (owner, destroyed_at)
    VALUES (NEW.aggregate_id, now())
    ON CONFLICT (owner) DO UPDATE
        SET wrapped_key = NULL, kek_id = NULL,
            destroyed_at = COALESCE(data_keys.destroyed_at, now());
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS integration_deleted_destroys_data_key ON events;
CREATE TRIGGER integration_deleted_destroys_data_key AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'Integration' AND NEW.event_type = 'IntegrationDeleted')
    EXECUTE FUNCTION integration_deleted_destroys_data_key();
