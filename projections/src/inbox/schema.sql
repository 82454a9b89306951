-- The inbox read model (version 4: receipts that wait for their message's platform id). Created in the projection's own schema; names unqualified.
-- The indexes only queries use are in read_indexes.sql.

-- One inbox per integration.
CREATE TABLE inboxes (
    integration_id uuid PRIMARY KEY,
    workspace_id   text        NOT NULL,
    channel        text        NOT NULL,
    name           text        NOT NULL,
    status         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- One conversation per inbox x contact.
CREATE TABLE conversations (
    id                   uuid PRIMARY KEY,
    -- Unique as the id is derived from it (the index is in read_indexes.sql).
    conversation_key     text        NOT NULL,
    workspace_id         text        NOT NULL,
    integration_id       uuid        NOT NULL,
    channel              text        NOT NULL,
    contact_id           text        NOT NULL,
    contact_name         text,
    contact_thread_id    text,
    last_message_preview text,
    last_message_at      timestamptz NOT NULL,
    -- Inbound messages after the latest reply and after the agents' read mark.
    unread_count         int         NOT NULL DEFAULT 0,
    last_reply_at        timestamptz,
    -- When the contact's latest message reached us (our clock, as agents' marks are; the
    -- platform's time for events recorded before receive times were).
    last_inbound_at      timestamptz,
    -- Copies of the conversation's marks (see conversation_marks).
    last_read_at         timestamptz,
    resolved_at          timestamptz,
    reopened_at          timestamptz,
    -- Resolved until reopened by hand or by a message from the contact that reached us after it.
    status               text GENERATED ALWAYS AS (
        CASE WHEN resolved_at > COALESCE(reopened_at, '-infinity'::timestamptz)
              AND resolved_at >= COALESCE(last_inbound_at, '-infinity'::timestamptz)
             THEN 'resolved' ELSE 'open' END) STORED,
    message_count        bigint      NOT NULL DEFAULT 0,
    first_seen_at        timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL
-- Room on each page for a row's next version, for a rebuild: replaying without the read
-- indexes, it updates conversations in place (HOT). Live updates change indexed columns.
) WITH (fillfactor = 70);

-- Agents' marks on a conversation (from `conversations.activity`), kept apart from the
-- conversation row because they may be read before the conversation's first message is.
CREATE TABLE conversation_marks (
    conversation_id uuid PRIMARY KEY,
    read_up_to      timestamptz,
    resolved_at     timestamptz,
    reopened_at     timestamptz
);

-- Messages in platform time order, id as the stable tiebreak. Delivery status is monotonic:
-- queued(0) < sent(1) < delivered(2) < read(3); failed(4) replaces queued or sent, and delivered
-- or read replace failed, so the order statuses arrive in does not matter.
CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid        NOT NULL,
    workspace_id        text        NOT NULL,
    direction           text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    platform_message_id text,
    content             jsonb       NOT NULL,
    reply_to            text,
    is_echo             boolean     NOT NULL DEFAULT false,
    sent_at             timestamptz NOT NULL,
    status              text,
    status_rank         smallint    NOT NULL DEFAULT -1,
    failure             jsonb
);
CREATE INDEX messages_page ON messages (conversation_id, sent_at DESC, id DESC);
CREATE UNIQUE INDEX messages_platform_id ON messages (conversation_id, platform_message_id)
    WHERE platform_message_id IS NOT NULL;

-- Outcomes of sends whose command is not applied yet (`messages.status` and
-- `messages.outbound` are different topics, read in no fixed order): kept until the message
-- row exists, then applied to it.
CREATE TABLE pending_statuses (
    event_id   uuid PRIMARY KEY,
    message_id uuid  NOT NULL,
    outcome    jsonb NOT NULL
);
CREATE INDEX pending_statuses_by_message ON pending_statuses (message_id);

-- Platform receipts (delivered, read, failed on `messages.received`) naming a platform id no
-- message carries yet: its `MessageSent` on `messages.status`, which brings the id, was not
-- applied yet. Applied and removed when it is; a receipt for a message sent elsewhere stays.
CREATE TABLE pending_receipts (
    conversation_id     uuid     NOT NULL,
    platform_message_id text     NOT NULL,
    status              text     NOT NULL,
    status_rank         smallint NOT NULL,
    failure             jsonb,
    PRIMARY KEY (conversation_id, platform_message_id, status)
);
