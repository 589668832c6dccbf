-- Classification: an official's clearance, set by their admin (NULL: none, the lowest level).
ALTER TABLE officials ADD COLUMN clearance TEXT;

-- A clearance lowered from the CLI, whose removals from rooms above it are still to be done by the
-- running server (only the server appends events).
CREATE TABLE pending_clearance_checks (
    user_id         TEXT PRIMARY KEY,
    actor           TEXT NOT NULL,
    created_ts      INTEGER NOT NULL
);
