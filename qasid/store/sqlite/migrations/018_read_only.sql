-- The spec's account suspension (v1.18): the account may still sign in and read, but every write
-- (sending, joining, inviting, profile changes, uploads) is refused with M_USER_SUSPENDED.
-- `locked` (qasid's "suspended" in its admin API) stays the stronger state: every request refused.
ALTER TABLE users ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
