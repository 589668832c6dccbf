-- Reports of events, rooms and users (POST /rooms/{roomId}/report[/{eventId}], /users/{userId}/report).
-- Each is filed under the unit of the official it is about (the event's sender, the room's
-- creator, the user), as placed when reported: that unit's admins and the national admins read it.
-- unit_id NULL: the account is outside the tree, so only national admins see the report.
CREATE TABLE reports (
    report_id       INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,          -- event | room | user
    reporter        TEXT NOT NULL,
    reported_user   TEXT NOT NULL,
    room_id         TEXT,
    event_id        TEXT,
    unit_id         INTEGER,
    reason          TEXT NOT NULL,          -- the reporter's own words; never copied to the audit log
    score           INTEGER,
    created_ts      INTEGER NOT NULL,
    resolved_ts     INTEGER,
    resolved_by     TEXT
);
CREATE INDEX reports_unit ON reports (unit_id, report_id);

-- Server-side search over what the server can read: plaintext message bodies, room names and
-- topics. rowid is the event's stream_ordering; encrypted events are never written here.
CREATE VIRTUAL TABLE event_search USING fts5(
    value, key UNINDEXED, room_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
);

-- A redacted or purged event leaves the index with it.
CREATE TRIGGER event_search_on_delete AFTER DELETE ON events BEGIN
    DELETE FROM event_search WHERE rowid = old.stream_ordering;
END;
CREATE TRIGGER event_search_on_redact AFTER UPDATE OF pdu ON events BEGIN
    DELETE FROM event_search WHERE rowid = old.stream_ordering;
END;

-- What the server held before this migration, indexed once.
INSERT INTO event_search (rowid, value, key, room_id)
    SELECT stream_ordering, json_extract(CAST(pdu AS TEXT), '$.content.body'), 'content.body', room_id
    FROM events WHERE type = 'm.room.message' AND state_key IS NULL AND redacted_by IS NULL
      AND json_type(CAST(pdu AS TEXT), '$.content.body') = 'text';
INSERT INTO event_search (rowid, value, key, room_id)
    SELECT stream_ordering, json_extract(CAST(pdu AS TEXT), '$.content.name'), 'content.name', room_id
    FROM events WHERE type = 'm.room.name' AND state_key = '' AND redacted_by IS NULL
      AND json_type(CAST(pdu AS TEXT), '$.content.name') = 'text';
INSERT INTO event_search (rowid, value, key, room_id)
    SELECT stream_ordering, json_extract(CAST(pdu AS TEXT), '$.content.topic'), 'content.topic', room_id
    FROM events WHERE type = 'm.room.topic' AND state_key = '' AND redacted_by IS NULL
      AND json_type(CAST(pdu AS TEXT), '$.content.topic') = 'text';

-- erase: true at deactivation (profile cleared, account data and key backup deleted).
ALTER TABLE users ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
