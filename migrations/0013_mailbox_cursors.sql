-- How far each e-mail integration's mailbox reader has read a folder: the folder's
-- UIDVALIDITY and the highest UID whose MessageReceived the broker acknowledged. A reader
-- resumes after last_uid; a new UIDVALIDITY (the server renumbered the folder) starts the
-- folder again from the beginning, and the deterministic event ids (from each mail's
-- Message-ID) make the repeats duplicates consumers drop.
CREATE TABLE mailbox_cursors (
    integration_id TEXT NOT NULL,
    folder TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, folder)
);

-- The last mail of every e-mail thread, per integration and conversation contact, so a reply
-- can name it in In-Reply-To and References and answer under its subject.
CREATE TABLE mailbox_threads (
    integration_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    address TEXT NOT NULL,
    last_message_id TEXT NOT NULL,
    message_references TEXT NOT NULL,
    subject TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, contact_id)
);
