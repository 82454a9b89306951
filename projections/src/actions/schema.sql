-- The actions read model (version 1): each requested action's status and output, for the
-- status route. Never the input (it may hold personal data); the output is what the action
-- answered (the range written, the values read, the e-mail's Message-ID).
CREATE TABLE actions (
    action_id      uuid PRIMARY KEY,
    workspace_id   text        NOT NULL,
    integration_id uuid        NOT NULL,
    channel        text        NOT NULL,
    action         text        NOT NULL,
    status         text        NOT NULL,
    output         jsonb,
    reason         text,
    detail         text,
    attempts       integer,
    requested_at   timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL
);
