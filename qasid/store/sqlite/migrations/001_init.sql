-- qasid schema, version 1. One concept, one name: the same names are used in Python and JSON.

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    password_hash  TEXT,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    deactivated    INTEGER NOT NULL DEFAULT 0,
    displayname    TEXT,
    avatar_url     TEXT,
    created_ts     INTEGER NOT NULL
);

CREATE TABLE devices (
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    display_name   TEXT,
    last_seen_ip   TEXT,
    last_seen_ts   INTEGER,
    created_ts     INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Access tokens are stored only as their SHA-256; the token itself is shown once.
CREATE TABLE access_tokens (
    token_hash     BLOB PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    created_ts     INTEGER NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE registration_tokens (
    token          TEXT PRIMARY KEY,
    uses_allowed   INTEGER,
    pending        INTEGER NOT NULL DEFAULT 0,
    completed      INTEGER NOT NULL DEFAULT 0,
    expiry_time    INTEGER,
    created_ts     INTEGER NOT NULL
);

-- Every accepted PDU. stream_ordering is the events stream position.
CREATE TABLE events (
    stream_ordering INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    room_id         TEXT NOT NULL,
    type            TEXT NOT NULL,
    state_key       TEXT,
    sender          TEXT NOT NULL,
    origin_server_ts INTEGER NOT NULL,
    depth           INTEGER NOT NULL,
    pdu             BLOB NOT NULL,          -- the full signed PDU, canonical JSON
    unsigned        BLOB,                   -- server-side unsigned extras (prev_content, replaces_state)
    txn_device_id   TEXT,                   -- for echoing unsigned.transaction_id to the sender's device
    txn_id          TEXT,
    redacted_by     TEXT
);
CREATE INDEX events_room ON events (room_id, stream_ordering);

-- The state each state event replaced; lets state at any stream position be read back.
CREATE TABLE current_state (
    room_id         TEXT NOT NULL,
    type            TEXT NOT NULL,
    state_key       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    PRIMARY KEY (room_id, type, state_key)
);

CREATE TABLE room_memberships (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    membership      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    forgotten       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);

CREATE TABLE rooms (
    room_id         TEXT PRIMARY KEY,
    room_version    TEXT NOT NULL,
    creator         TEXT NOT NULL,
    is_public       INTEGER NOT NULL DEFAULT 0,
    created_ts      INTEGER NOT NULL
);

CREATE TABLE room_aliases (
    room_alias      TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL,
    creator         TEXT NOT NULL
);

-- Idempotency of PUT .../{txnId}: the first result is kept, in the same transaction as the write.
CREATE TABLE transactions (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,          -- the endpoint and its path parameters
    txn_id          TEXT NOT NULL,
    response        BLOB NOT NULL,
    created_ts      INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id)
);

CREATE TABLE account_data (
    stream_id       INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    room_id         TEXT NOT NULL,          -- '' for global account data
    type            TEXT NOT NULL,
    content         BLOB NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

CREATE TABLE receipts (
    stream_id       INTEGER NOT NULL,
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    receipt_type    TEXT NOT NULL,
    thread_id       TEXT NOT NULL,          -- '' when unthreaded
    event_id        TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream ON receipts (room_id, stream_id);

CREATE TABLE filters (
    user_id         TEXT NOT NULL,
    filter_id       INTEGER NOT NULL,
    filter_json     BLOB NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- End-to-end encryption bookkeeping: the server only stores and relays keys.
CREATE TABLE device_keys (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    key_json        BLOB NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE one_time_keys (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    key_json        BLOB NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

CREATE TABLE fallback_keys (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    key_json        BLOB NOT NULL,
    used            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

CREATE TABLE cross_signing_keys (
    user_id         TEXT NOT NULL,
    key_type        TEXT NOT NULL,          -- master, self_signing, user_signing
    key_json        BLOB NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

CREATE TABLE device_list_changes (
    stream_id       INTEGER PRIMARY KEY,
    user_id         TEXT NOT NULL
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);

CREATE TABLE to_device_inbox (
    stream_id       INTEGER PRIMARY KEY,
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    message         BLOB NOT NULL           -- {"sender", "type", "content"}
);
CREATE INDEX to_device_inbox_device ON to_device_inbox (user_id, device_id, stream_id);

CREATE TABLE room_key_backup_versions (
    user_id         TEXT NOT NULL,
    version         INTEGER NOT NULL,
    algorithm       TEXT NOT NULL,
    auth_data       BLOB NOT NULL,
    etag            INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE room_key_backup_keys (
    user_id         TEXT NOT NULL,
    version         INTEGER NOT NULL,
    room_id         TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    key_data        BLOB NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

CREATE TABLE media (
    media_id        TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    filename        TEXT,
    size            INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL
);

CREATE TABLE presence (
    user_id         TEXT PRIMARY KEY,
    presence        TEXT NOT NULL,
    status_msg      TEXT,
    last_active_ts  INTEGER NOT NULL
);
