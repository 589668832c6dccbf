-- Accounts whose password the government directory (LDAP) checks: they have no local password hash.
-- suspended_by_directory: the account is suspended (users.locked) because its entry was disabled or
-- removed there; it is lifted when the entry is enabled again (a suspension by an admin is not).
CREATE TABLE directory_accounts (
    user_id                 TEXT PRIMARY KEY REFERENCES users (user_id),
    dn                      TEXT NOT NULL,
    suspended_by_directory  INTEGER NOT NULL DEFAULT 0,
    created_ts              INTEGER NOT NULL,
    checked_ts              INTEGER
);
