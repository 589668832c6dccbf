-- Push notifications: what push rules decided for each recipient of each event, the
-- recipients' pushers, and the queue of notifications their push gateways have not yet taken.

-- One row per (event, user) whose push rules said "notify"; written in the same transaction
-- as the event. notification_count/highlight_count count these after the user's read receipt.
CREATE TABLE event_push_actions (
    stream_ordering INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    thread_id       TEXT NOT NULL,              -- 'main', or the thread root's event ID
    highlight       INTEGER NOT NULL,           -- 0 or 1
    actions         BLOB NOT NULL,              -- the matching rule's actions (JSON array)
    ts              INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
);
CREATE INDEX event_push_actions_user ON event_push_actions (user_id, stream_ordering);

CREATE TABLE pushers (
    pusher_id           INTEGER PRIMARY KEY,
    user_id             TEXT NOT NULL,
    device_id           TEXT,                   -- the device that set it: gone with the device
    kind                TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT,
    lang                TEXT NOT NULL,
    data                BLOB NOT NULL,          -- JSON object, url included
    pushkey_ts          INTEGER NOT NULL,       -- milliseconds
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_key ON pushers (app_id, pushkey);

-- Notifications a pusher's gateway has not yet acknowledged, written with the event. No foreign
-- key: a pusher removed while an event is queued must not refuse the event; rows are only
-- inserted for pushers that exist, and removed with their pusher.
CREATE TABLE push_queue (
    pusher_id       INTEGER NOT NULL,
    stream_ordering INTEGER NOT NULL,
    room_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    actions         BLOB NOT NULL,
    PRIMARY KEY (pusher_id, stream_ordering)
);
