-- PostgreSQL schema of qasid, equal to SQLite's after its migration 018 (qasid/store/sqlite/migrations).
-- Integers are BIGINT, blobs BYTEA; the three tables whose IDs SQLite assigns (units, pushers,
-- reports) take them from an identity column.

-- SQLite's json_extract, for the few queries that look inside a stored event: the text at a
-- '$.a.b' path of a JSON document kept as UTF-8 bytes.
CREATE FUNCTION json_extract(doc BYTEA, path TEXT) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT convert_from(doc, 'UTF8')::jsonb #>> string_to_array(substr(path, 3), '.') $$;

-- Moved by every commit of every worker (under the writers' lock): a worker that finds it moved by
-- more than its own last commit knows another wrote since, and reads stream positions again.
CREATE TABLE write_epoch (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    n               BIGINT NOT NULL
);
INSERT INTO write_epoch VALUES (1, 0);

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    password_hash  TEXT,
    is_admin       BIGINT NOT NULL DEFAULT 0,
    deactivated    BIGINT NOT NULL DEFAULT 0,
    displayname    TEXT,
    avatar_url     TEXT,
    created_ts     BIGINT NOT NULL,
    locked BIGINT NOT NULL DEFAULT 0,
    erased BIGINT NOT NULL DEFAULT 0,
    read_only BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE devices (
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    display_name   TEXT,
    last_seen_ip   TEXT,
    last_seen_ts   BIGINT,
    created_ts     BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE access_tokens (
    token_hash     BYTEA PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    created_ts     BIGINT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE TABLE events (
    stream_ordering BIGINT PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    room_id         TEXT NOT NULL,
    type            TEXT NOT NULL,
    state_key       TEXT,
    sender          TEXT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    depth           BIGINT NOT NULL,
    pdu             BYTEA NOT NULL,          -- the full signed PDU, canonical JSON
    unsigned        BYTEA,                   -- server-side unsigned extras (prev_content, replaces_state)
    txn_device_id   TEXT,                   -- for echoing unsigned.transaction_id to the sender's device
    txn_id          TEXT,
    redacted_by     TEXT
);
CREATE INDEX events_room ON events (room_id, stream_ordering);
CREATE TABLE current_state (
    room_id         TEXT NOT NULL,
    type            TEXT NOT NULL,
    state_key       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE TABLE room_memberships (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    membership      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    forgotten       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);
CREATE TABLE rooms (
    room_id         TEXT PRIMARY KEY,
    room_version    TEXT NOT NULL,
    creator         TEXT NOT NULL,
    is_public       BIGINT NOT NULL DEFAULT 0,
    created_ts      BIGINT NOT NULL
);
CREATE TABLE room_aliases (
    room_alias      TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL,
    creator         TEXT NOT NULL
);
CREATE TABLE transactions (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,          -- the endpoint and its path parameters
    txn_id          TEXT NOT NULL,
    response        BYTEA NOT NULL,
    created_ts      BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id)
);
CREATE TABLE account_data (
    stream_id       BIGINT NOT NULL,
    user_id         TEXT NOT NULL,
    room_id         TEXT NOT NULL,          -- '' for global account data
    type            TEXT NOT NULL,
    content         BYTEA NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);
CREATE TABLE receipts (
    stream_id       BIGINT NOT NULL,
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    receipt_type    TEXT NOT NULL,
    thread_id       TEXT NOT NULL,          -- '' when unthreaded
    event_id        TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream ON receipts (room_id, stream_id);
CREATE TABLE filters (
    user_id         TEXT NOT NULL,
    filter_id       BIGINT NOT NULL,
    filter_json     BYTEA NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
CREATE TABLE device_keys (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    key_json        BYTEA NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE one_time_keys (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY,  -- SQLite's implicit rowid: the order keys were uploaded
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    key_json        BYTEA NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE TABLE fallback_keys (
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    key_json        BYTEA NOT NULL,
    used            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);
CREATE TABLE cross_signing_keys (
    user_id         TEXT NOT NULL,
    key_type        TEXT NOT NULL,          -- master, self_signing, user_signing
    key_json        BYTEA NOT NULL,
    PRIMARY KEY (user_id, key_type)
);
CREATE TABLE device_list_changes (
    stream_id       BIGINT PRIMARY KEY,
    user_id         TEXT NOT NULL
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);
CREATE TABLE to_device_inbox (
    stream_id       BIGINT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    message         BYTEA NOT NULL           -- {"sender", "type", "content"}
);
CREATE INDEX to_device_inbox_device ON to_device_inbox (user_id, device_id, stream_id);
CREATE TABLE room_key_backup_versions (
    user_id         TEXT NOT NULL,
    version         BIGINT NOT NULL,
    algorithm       TEXT NOT NULL,
    auth_data       BYTEA NOT NULL,
    etag            BIGINT NOT NULL DEFAULT 0,
    deleted         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);
CREATE TABLE room_key_backup_keys (
    user_id         TEXT NOT NULL,
    version         BIGINT NOT NULL,
    room_id         TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    key_data        BYTEA NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
CREATE TABLE media (
    media_id        TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    filename        TEXT,
    size            BIGINT NOT NULL,
    created_ts      BIGINT NOT NULL
);
CREATE TABLE presence (
    user_id         TEXT PRIMARY KEY,
    presence        TEXT NOT NULL,
    status_msg      TEXT,
    last_active_ts  BIGINT NOT NULL,
    stream_id       BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE to_device_stream (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    position        BIGINT NOT NULL
);
CREATE TABLE units (
    unit_id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    parent_id       BIGINT REFERENCES units (unit_id),
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    created_ts      BIGINT NOT NULL
);
CREATE INDEX units_parent ON units (parent_id);
CREATE TABLE officials (
    user_id         TEXT PRIMARY KEY REFERENCES users (user_id),
    unit_id         BIGINT NOT NULL REFERENCES units (unit_id),
    designation     TEXT NOT NULL DEFAULT '',
    created_ts      BIGINT NOT NULL,
    clearance       TEXT
);
CREATE INDEX officials_unit ON officials (unit_id);
CREATE TABLE admin_roles (
    user_id         TEXT NOT NULL,
    unit_id         BIGINT NOT NULL REFERENCES units (unit_id),
    PRIMARY KEY (user_id, unit_id)
);
CREATE TABLE unit_policies (
    unit_id         BIGINT PRIMARY KEY REFERENCES units (unit_id),
    policy_json     TEXT NOT NULL
);
CREATE TABLE room_retention (
    room_id         TEXT PRIMARY KEY,
    retention_days  BIGINT NOT NULL
);
CREATE TABLE pending_offboardings (
    user_id         TEXT PRIMARY KEY,
    actor           TEXT NOT NULL,
    created_ts      BIGINT NOT NULL
);
CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    ts              BIGINT NOT NULL,           -- UTC, milliseconds since the epoch
    actor           TEXT NOT NULL,              -- a user ID, or "operator" for the CLI
    actor_device    TEXT,
    action          TEXT NOT NULL,
    target          TEXT,
    source_ip       TEXT,
    unit_id         BIGINT,                    -- whose subtree's admins may read it; NULL: national only
    details         TEXT NOT NULL,              -- canonical JSON object
    prev_hash       TEXT NOT NULL,
    entry_hash      TEXT NOT NULL
);
CREATE INDEX audit_log_unit ON audit_log (unit_id, seq);
CREATE TABLE audit_head (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    seq             BIGINT NOT NULL,
    entry_hash      TEXT NOT NULL
);
CREATE TABLE server_identity (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    server_name     TEXT NOT NULL
);
CREATE TABLE event_push_actions (
    stream_ordering BIGINT NOT NULL,
    user_id         TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    thread_id       TEXT NOT NULL,              -- 'main', or the thread root's event ID
    highlight       BIGINT NOT NULL,           -- 0 or 1
    actions         BYTEA NOT NULL,              -- the matching rule's actions (JSON array)
    ts              BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
);
CREATE INDEX event_push_actions_user ON event_push_actions (user_id, stream_ordering);
CREATE TABLE pushers (
    pusher_id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id             TEXT NOT NULL,
    device_id           TEXT,                   -- the device that set it: gone with the device
    kind                TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT,
    lang                TEXT NOT NULL,
    data                BYTEA NOT NULL,          -- JSON object, url included
    pushkey_ts          BIGINT NOT NULL,       -- milliseconds
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_key ON pushers (app_id, pushkey);
CREATE TABLE push_queue (
    pusher_id       BIGINT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    room_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    actions         BYTEA NOT NULL,
    PRIMARY KEY (pusher_id, stream_ordering)
);
CREATE INDEX events_state_history ON events (room_id, type, state_key, stream_ordering)
    WHERE state_key IS NOT NULL;
CREATE TABLE registration_tokens (
    token_hash     BYTEA PRIMARY KEY,
    uses_allowed   BIGINT,
    pending        BIGINT NOT NULL DEFAULT 0,
    completed      BIGINT NOT NULL DEFAULT 0,
    expiry_time    BIGINT,
    created_ts     BIGINT NOT NULL
);
CREATE TABLE enrollment_tokens (
    token_hash      BYTEA PRIMARY KEY,
    unit_id         BIGINT NOT NULL REFERENCES units (unit_id),
    person_name     TEXT,
    designation     TEXT,
    issued_by       TEXT NOT NULL,
    created_ts      BIGINT NOT NULL
);
CREATE INDEX enrollment_tokens_unit ON enrollment_tokens (unit_id);
CREATE TABLE openid_tokens (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_ts   BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
CREATE TABLE delayed_events (
    delay_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    state_key      TEXT,
    content        BYTEA NOT NULL,
    delay_ms       BIGINT NOT NULL,
    running_since  BIGINT NOT NULL,
    send_ts        BIGINT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'scheduled',
    event_id       TEXT,
    error          TEXT,
    finalised_ts   BIGINT,
    txn_id         TEXT
);
CREATE INDEX delayed_events_due ON delayed_events (status, send_ts);
CREATE INDEX delayed_events_user ON delayed_events (user_id, status);
CREATE INDEX presence_by_stream ON presence (stream_id);
CREATE TABLE console_sessions (
    session_hash    BYTEA PRIMARY KEY,
    user_id         TEXT NOT NULL,
    csrf_secret     TEXT NOT NULL,
    created_ts      BIGINT NOT NULL,
    last_seen_ts    BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE TABLE console_admins (
    user_id         TEXT PRIMARY KEY,
    language        TEXT NOT NULL
);
CREATE UNIQUE INDEX delayed_events_txn ON delayed_events (user_id, device_id, txn_id) WHERE txn_id IS NOT NULL;
CREATE TABLE event_relations (
    event_id        TEXT PRIMARY KEY,       -- the child
    relates_to_id   TEXT NOT NULL,          -- the parent
    rel_type        TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    type            TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type, stream_ordering);
CREATE INDEX event_relations_room ON event_relations (room_id, rel_type, stream_ordering);
CREATE INDEX event_relations_thread_sender ON event_relations (relates_to_id, sender) WHERE rel_type = 'm.thread';
CREATE TABLE threads (
    room_id         TEXT NOT NULL,
    root_id         TEXT NOT NULL,
    root_sender     TEXT NOT NULL,
    latest_stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, root_id)
);
CREATE INDEX threads_latest ON threads (room_id, latest_stream_ordering);
CREATE TABLE reports (
    report_id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL,          -- event | room | user
    reporter        TEXT NOT NULL,
    reported_user   TEXT NOT NULL,
    room_id         TEXT,
    event_id        TEXT,
    unit_id         BIGINT,
    reason          TEXT NOT NULL,          -- the reporter's own words; never copied to the audit log
    score           BIGINT,
    created_ts      BIGINT NOT NULL,
    resolved_ts     BIGINT,
    resolved_by     TEXT
);
CREATE INDEX reports_unit ON reports (unit_id, report_id);
CREATE TABLE pending_clearance_checks (
    user_id         TEXT PRIMARY KEY,
    actor           TEXT NOT NULL,
    created_ts      BIGINT NOT NULL
);
CREATE TABLE directives (
    directive_id      TEXT PRIMARY KEY,
    issuer            TEXT NOT NULL,
    title             TEXT NOT NULL,
    unit_ids          TEXT NOT NULL,          -- JSON list of the target units
    deadline_ts       BIGINT NOT NULL,
    created_ts        BIGINT NOT NULL,
    created_by        TEXT NOT NULL,          -- the issuer, or the operator acting from the CLI
    room_id           TEXT UNIQUE,            -- NULL until the server has created the room
    message_event_id  TEXT,                   -- the issuer's first message in the room: what is acknowledged
    message_ts        BIGINT,
    reminded_ts       BIGINT,                -- the last reminder sent
    remind_requested  BIGINT NOT NULL DEFAULT 0  -- a reminder asked for from the CLI, for the server to send
);
CREATE INDEX directives_issuer ON directives (issuer);
CREATE TABLE directive_acks (
    directive_id      TEXT NOT NULL REFERENCES directives (directive_id),
    user_id           TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    how               TEXT NOT NULL,          -- 'reaction' or 'reply'
    ts                BIGINT NOT NULL,
    PRIMARY KEY (directive_id, user_id)
);
CREATE TABLE directory_accounts (
    user_id                 TEXT PRIMARY KEY REFERENCES users (user_id),
    dn                      TEXT NOT NULL,
    suspended_by_directory  BIGINT NOT NULL DEFAULT 0,
    created_ts              BIGINT NOT NULL,
    checked_ts              BIGINT
);

-- The audit log is append-only and its head only moves forward, as in SQLite.
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse('audit_log is append-only');
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse('audit_log is append-only');
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
    FOR EACH ROW WHEN (NEW.seq <= OLD.seq) EXECUTE FUNCTION audit_refuse('audit_head only moves forward');
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse('audit_head cannot be deleted');

-- Full-text search of unencrypted messages (SQLite: an FTS5 table). rowid is the event's stream
-- ordering; a redacted or purged event leaves the index with its text.
CREATE TABLE event_search (
    rowid           BIGINT PRIMARY KEY,
    value           TEXT NOT NULL,
    key             TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    words           tsvector GENERATED ALWAYS AS (to_tsvector('simple', value)) STORED
);
CREATE INDEX event_search_words ON event_search USING GIN (words);
CREATE INDEX event_search_room ON event_search (room_id, rowid);
CREATE FUNCTION event_search_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_search WHERE rowid = OLD.stream_ordering;
    RETURN NULL;
END $$;
CREATE TRIGGER event_search_on_delete AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION event_search_forget();
CREATE TRIGGER event_search_on_redact AFTER UPDATE OF pdu ON events
    FOR EACH ROW EXECUTE FUNCTION event_search_forget();

-- The rows SQLite's migrations start with: the to-device stream's high-water mark and the audit
-- chain's genesis head.
INSERT INTO to_device_stream (id, position) VALUES (1, 0);
INSERT INTO audit_head (id, seq, entry_hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
