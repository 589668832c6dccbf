-- Sessions of the admin console (/_qasid/admin/). The browser's cookie holds a random session ID;
-- only its SHA-256 is kept here, so whoever reads the file can't sign in with it. Each session
-- carries the secret its forms' CSRF tokens are checked against.
CREATE TABLE console_sessions (
    session_hash    BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL,
    csrf_secret     TEXT NOT NULL,
    created_ts      INTEGER NOT NULL,
    last_seen_ts    INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- What each admin chose in the console and keeps across sessions: for now their language.
CREATE TABLE console_admins (
    user_id         TEXT PRIMARY KEY,
    language        TEXT NOT NULL
);
