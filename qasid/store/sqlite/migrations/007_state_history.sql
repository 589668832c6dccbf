-- A room's changes of one piece of state, in stream order: history visibility reads a room's
-- m.room.history_visibility changes and one user's member events without scanning the room.
CREATE INDEX events_state_history ON events (room_id, type, state_key, stream_ordering)
    WHERE state_key IS NOT NULL;
