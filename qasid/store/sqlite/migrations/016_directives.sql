-- Directives: an official or admin instructs one or more units (and their subtrees). The text
-- travels end-to-end encrypted in the directive's room, written by the issuer's own client; the
-- server keeps only what it is given as metadata (title, targets, deadline) and who acknowledged.
CREATE TABLE directives (
    directive_id      TEXT PRIMARY KEY,
    issuer            TEXT NOT NULL,
    title             TEXT NOT NULL,
    unit_ids          TEXT NOT NULL,          -- JSON list of the target units
    deadline_ts       INTEGER NOT NULL,
    created_ts        INTEGER NOT NULL,
    created_by        TEXT NOT NULL,          -- the issuer, or the operator acting from the CLI
    room_id           TEXT UNIQUE,            -- NULL until the server has created the room
    message_event_id  TEXT,                   -- the issuer's first message in the room: what is acknowledged
    message_ts        INTEGER,
    reminded_ts       INTEGER,                -- the last reminder sent
    remind_requested  INTEGER NOT NULL DEFAULT 0  -- a reminder asked for from the CLI, for the server to send
);
CREATE INDEX directives_issuer ON directives (issuer);

-- One row per recipient who acknowledged (the first act counts; it is never withdrawn).
CREATE TABLE directive_acks (
    directive_id      TEXT NOT NULL REFERENCES directives (directive_id),
    user_id           TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    how               TEXT NOT NULL,          -- 'reaction' or 'reply'
    ts                INTEGER NOT NULL,
    PRIMARY KEY (directive_id, user_id)
);
