-- Registration tokens, and the enrollment tokens bound to them, are kept as SHA-256 hashes like
-- access tokens: whoever can read the database file can no longer redeem them. sha256() is the
-- migration runner's; it runs with secure_delete on, so the dropped tables' pages are zeroed.
CREATE TABLE registration_tokens_hashed (
    token_hash     BLOB PRIMARY KEY,
    uses_allowed   INTEGER,
    pending        INTEGER NOT NULL DEFAULT 0,
    completed      INTEGER NOT NULL DEFAULT 0,
    expiry_time    INTEGER,
    created_ts     INTEGER NOT NULL
);
INSERT INTO registration_tokens_hashed (token_hash, uses_allowed, pending, completed, expiry_time, created_ts)
    SELECT sha256(token), uses_allowed, pending, completed, expiry_time, created_ts FROM registration_tokens;
DROP TABLE registration_tokens;
ALTER TABLE registration_tokens_hashed RENAME TO registration_tokens;

CREATE TABLE enrollment_tokens_hashed (
    token_hash      BLOB PRIMARY KEY,
    unit_id         INTEGER NOT NULL REFERENCES units (unit_id),
    person_name     TEXT,
    designation     TEXT,
    issued_by       TEXT NOT NULL,
    created_ts      INTEGER NOT NULL
);
INSERT INTO enrollment_tokens_hashed (token_hash, unit_id, person_name, designation, issued_by, created_ts)
    SELECT sha256(token), unit_id, person_name, designation, issued_by, created_ts FROM enrollment_tokens;
DROP TABLE enrollment_tokens;
ALTER TABLE enrollment_tokens_hashed RENAME TO enrollment_tokens;
CREATE INDEX enrollment_tokens_unit ON enrollment_tokens (unit_id);
