-- The government layer: organisation tree, officials, admin roles, enrollment, policy.

-- A tree of any depth; a unit with no parent is a ministry (a top-level unit).
CREATE TABLE units (
    unit_id         INTEGER PRIMARY KEY,
    parent_id       INTEGER REFERENCES units (unit_id),
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    created_ts      INTEGER NOT NULL
);
CREATE INDEX units_parent ON units (parent_id);

-- Every official belongs to one unit and has a designation.
CREATE TABLE officials (
    user_id         TEXT PRIMARY KEY REFERENCES users (user_id),
    unit_id         INTEGER NOT NULL REFERENCES units (unit_id),
    designation     TEXT NOT NULL DEFAULT '',
    created_ts      INTEGER NOT NULL
);
CREATE INDEX officials_unit ON officials (unit_id);

-- A unit admin administers the subtree under unit_id. National admins are users.is_admin.
CREATE TABLE admin_roles (
    user_id         TEXT NOT NULL,
    unit_id         INTEGER NOT NULL REFERENCES units (unit_id),
    PRIMARY KEY (user_id, unit_id)
);

-- The registration token itself (uses, expiry) is core's registration_tokens row; this binds it.
CREATE TABLE enrollment_tokens (
    token           TEXT PRIMARY KEY,
    unit_id         INTEGER NOT NULL REFERENCES units (unit_id),
    person_name     TEXT,
    designation     TEXT,
    issued_by       TEXT NOT NULL,
    created_ts      INTEGER NOT NULL
);
CREATE INDEX enrollment_tokens_unit ON enrollment_tokens (unit_id);

-- Only the keys set on this unit; the rest is inherited from its ancestors.
CREATE TABLE unit_policies (
    unit_id         INTEGER PRIMARY KEY REFERENCES units (unit_id),
    policy_json     TEXT NOT NULL
);

-- Retention is fixed when a room is created, from its creator's unit policy.
CREATE TABLE room_retention (
    room_id         TEXT PRIMARY KEY,
    retention_days  INTEGER NOT NULL
);

-- An offboarding whose room leaves are still to be done by the running server
-- (the CLI acts on the database; only the server may append events).
CREATE TABLE pending_offboardings (
    user_id         TEXT PRIMARY KEY,
    actor           TEXT NOT NULL,
    created_ts      INTEGER NOT NULL
);

-- Suspension: every request but logout gets 401 M_USER_LOCKED until it is lifted.
ALTER TABLE users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
