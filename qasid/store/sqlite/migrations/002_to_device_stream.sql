-- The to-device stream's high-water mark. Acknowledged messages are deleted, so max(stream_id)
-- of to_device_inbox can fall; positions must never be reused or a device's token would skip
-- messages written after a restart.
CREATE TABLE to_device_stream (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    position        INTEGER NOT NULL
);
INSERT INTO to_device_stream (id, position) SELECT 1, coalesce(max(stream_id), 0) FROM to_device_inbox;
