-- Event relationships (m.relates_to with a rel_type): who points at whom, indexed at append so
-- that /relations, /threads and the aggregations bundled in unsigned["m.relations"] read an
-- index instead of scanning events. A redacted child loses its m.relates_to, and its row.
CREATE TABLE event_relations (
    event_id        TEXT PRIMARY KEY,       -- the child
    relates_to_id   TEXT NOT NULL,          -- the parent
    rel_type        TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    type            TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type, stream_ordering);
-- A former member's thread list: a room's thread replies up to when they left.
CREATE INDEX event_relations_room ON event_relations (room_id, rel_type, stream_ordering);
-- "Has this user posted in that thread?" (current_user_participated, /threads?include=participated).
CREATE INDEX event_relations_thread_sender ON event_relations (relates_to_id, sender) WHERE rel_type = 'm.thread';

-- A room's threads by their latest reply: /threads pages this index, newest activity first.
CREATE TABLE threads (
    room_id         TEXT NOT NULL,
    root_id         TEXT NOT NULL,
    root_sender     TEXT NOT NULL,
    latest_stream_ordering INTEGER NOT NULL,
    PRIMARY KEY (room_id, root_id)
);
CREATE INDEX threads_latest ON threads (room_id, latest_stream_ordering);

-- The relations of events stored before this migration (redacted ones have none left). The PDU is
-- read as text: a newer SQLite would take a BLOB for its binary JSONB.
INSERT OR IGNORE INTO event_relations (event_id, relates_to_id, rel_type, room_id, sender, type, stream_ordering)
    SELECT event_id, json_extract(CAST(pdu AS TEXT), '$.content."m.relates_to".event_id'),
           json_extract(CAST(pdu AS TEXT), '$.content."m.relates_to".rel_type'), room_id, sender, type,
           stream_ordering
    FROM events
    WHERE redacted_by IS NULL
      AND json_type(CAST(pdu AS TEXT), '$.content."m.relates_to".rel_type') = 'text'
      AND json_type(CAST(pdu AS TEXT), '$.content."m.relates_to".event_id') = 'text';

INSERT INTO threads (room_id, root_id, root_sender, latest_stream_ordering)
    SELECT r.room_id, r.relates_to_id, root.sender, max(r.stream_ordering)
    FROM event_relations r JOIN events root ON root.event_id = r.relates_to_id AND root.room_id = r.room_id
    WHERE r.rel_type = 'm.thread'
    GROUP BY r.room_id, r.relates_to_id;
