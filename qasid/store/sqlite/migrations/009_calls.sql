-- Calls. OpenID tokens that the call service (lk-jwt-service) checks at /openid/userinfo, kept
-- as SHA-256 hashes like access tokens; and delayed events (MSC4140), durable so that a pending
-- one survives a restart. A delayed event is sent through the append path with a transaction ID
-- of its own, so a crash between the event's commit and the status change can't send it twice.
CREATE TABLE openid_tokens (
    token_hash   BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_ts   INTEGER NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);

CREATE TABLE delayed_events (
    delay_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    state_key      TEXT,
    content        BLOB NOT NULL,
    delay_ms       INTEGER NOT NULL,
    running_since  INTEGER NOT NULL,
    send_ts        INTEGER NOT NULL,
    -- scheduled, then sent or cancelled (finalised rows are kept a day, so a retried action is answered).
    status         TEXT NOT NULL DEFAULT 'scheduled',
    event_id       TEXT,
    error          TEXT,
    finalised_ts   INTEGER
);
CREATE INDEX delayed_events_due ON delayed_events (status, send_ts);
CREATE INDEX delayed_events_user ON delayed_events (user_id, status);
