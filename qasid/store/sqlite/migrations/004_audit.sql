-- The audit log: append-only and hash-chained. Each entry's entry_hash is the SHA-256 of its
-- canonical serialisation (qasid.gov.audit.entry_hash), which includes prev_hash, the previous
-- entry's entry_hash (64 zeros for the first). Values are stored already escaped: no control
-- characters, so no stored value can forge a line of `qasid admin audit list`.
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY,
    ts              INTEGER NOT NULL,           -- UTC, milliseconds since the epoch
    actor           TEXT NOT NULL,              -- a user ID, or "operator" for the CLI
    actor_device    TEXT,
    action          TEXT NOT NULL,
    target          TEXT,
    source_ip       TEXT,
    unit_id         INTEGER,                    -- whose subtree's admins may read it; NULL: national only
    details         TEXT NOT NULL,              -- canonical JSON object
    prev_hash       TEXT NOT NULL,
    entry_hash      TEXT NOT NULL
);
CREATE INDEX audit_log_unit ON audit_log (unit_id, seq);

-- The latest (seq, entry_hash), written in the same transaction as each append. Verify compares
-- the log's tail with it, so deleting the newest entries is caught unless this row is forged too.
CREATE TABLE audit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    entry_hash      TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, entry_hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Defence in depth: the server itself can never rewrite history. Someone with the file can drop
-- these triggers; the hash chain is what catches them.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
WHEN NEW.seq <= OLD.seq
BEGIN
    SELECT RAISE(ABORT, 'audit_head only moves forward');
END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head cannot be deleted');
END;
