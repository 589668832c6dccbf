-- Presence becomes a stream /sync reads: each change that others should hear of takes the next
-- position (a refresh of last_active_ts alone keeps its position).
ALTER TABLE presence ADD COLUMN stream_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX presence_by_stream ON presence (stream_id);
