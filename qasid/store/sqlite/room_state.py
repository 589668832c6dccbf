"""A room's state and memberships as stored: at any stream position, and what changed between two.

Reads only: `EventStore` (the append path, timelines and what memory holds of the stream) builds on this."""

from __future__ import annotations

from qasid.core import jsonutil
from qasid.store.sqlite.engine import Database
from qasid.store.sqlite.event_rows import EVENT_COLUMNS, EventRow, row_of


class RoomStateReads:
    """Current and historical room state, member events and history visibility, read from the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def current_state(self, room_id: str) -> list[EventRow]:
        rows = self.db.read(
            f"SELECT {', '.join('e.' + c.strip() for c in EVENT_COLUMNS.split(','))}"
            " FROM current_state s JOIN events e ON e.event_id = s.event_id WHERE s.room_id = ?",
            (room_id,))
        return [row_of(r) for r in rows]

    async def state_at(self, room_id: str, stream_ordering: int) -> list[EventRow]:
        """The room's state as it was just after `stream_ordering`."""
        # The newest event of each (type, state_key), in SQL that both dialects speak.
        rows = self.db.read(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering IN (SELECT max(stream_ordering) FROM events"
            " WHERE room_id = ? AND state_key IS NOT NULL AND stream_ordering <= ? GROUP BY type, state_key)",
            (room_id, stream_ordering))
        return [row_of(r) for r in rows]

    async def members_at(self, room_id: str, stream_ordering: int, user_ids: list[str]) -> list[EventRow]:
        """These users' member events as they were just after `stream_ordering` (those that have one).

        Lazy-loading wants a few members of rooms that may have thousands: one indexed lookup each
        (events_state_history) rather than reading and decoding the whole state.
        """
        rows: list[EventRow] = []
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start:start + 500]
            rows += [row_of(r) for r in self.db.read(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering IN (SELECT max(stream_ordering) FROM events"
                f" WHERE room_id = ? AND type = 'm.room.member' AND state_key IN ({','.join('?' * len(chunk))})"
                " AND stream_ordering <= ? GROUP BY state_key)",
                (room_id, *chunk, stream_ordering))]
        return rows

    async def was_joined_before(self, room_id: str, user_id: str, stream_ordering: int) -> bool:
        """Whether the user had joined the room at some point before `stream_ordering`."""
        row = self.db.read_one(
            "SELECT 1 FROM events WHERE room_id = ? AND type = 'm.room.member' AND state_key = ?"
            " AND stream_ordering < ? AND json_extract(pdu, '$.content.membership') = 'join' LIMIT 1",
            (room_id, user_id, stream_ordering))
        return row is not None

    async def visibility_history(self, room_id: str, user_id: str) -> list[tuple[int, str, str]]:
        """(stream_ordering, type, value) of the room's history_visibility changes and the user's
        member events, oldest first: the value is the `history_visibility` or the `membership`."""
        rows = self.db.read(
            "SELECT stream_ordering, type, pdu FROM events WHERE room_id = ?"
            " AND type = 'm.room.history_visibility' AND state_key = ''"
            " UNION ALL SELECT stream_ordering, type, pdu FROM events WHERE room_id = ?"
            " AND type = 'm.room.member' AND state_key = ? ORDER BY 1",
            (room_id, room_id, user_id))
        history = []
        for stream_ordering, event_type, pdu in rows:
            content = jsonutil.loads_stored(pdu).get("content", {})
            key = "membership" if event_type == "m.room.member" else "history_visibility"
            value = content.get(key)
            history.append((stream_ordering, event_type, value if isinstance(value, str) else ""))
        return history

    async def current_members_everywhere(self) -> list[tuple[str, str]]:
        """(user_id, room_id) of every joined or invited membership on the server."""
        rows = self.db.read(
            "SELECT user_id, room_id FROM room_memberships WHERE membership IN ('join', 'invite')")
        return [(r[0], r[1]) for r in rows]

    async def members(self, room_id: str, membership: str | None = None) -> list[tuple[str, str]]:
        """(user_id, membership) of the room's current member events."""
        if membership is None:
            rows = self.db.read(
                "SELECT user_id, membership FROM room_memberships WHERE room_id = ?", (room_id,))
        else:
            rows = self.db.read(
                "SELECT user_id, membership FROM room_memberships WHERE room_id = ? AND membership = ?",
                (room_id, membership))
        return [(r[0], r[1]) for r in rows]

    async def state_events_between(self, room_id: str, after: int, upto: int) -> list[EventRow]:
        """The room's state events with after < stream_ordering <= upto, oldest first."""
        rows = self.db.read(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ? AND stream_ordering > ?"
            " AND stream_ordering <= ? AND state_key IS NOT NULL ORDER BY stream_ordering",
            (room_id, after, upto))
        return [row_of(r) for r in rows]

    async def member_changes(self, room_ids: list[str], after: int, upto: int) -> list[tuple[str, str, str]]:
        """(room_id, user_id, membership) of member events in (after, upto] in these rooms, oldest first."""
        if not room_ids or after >= upto:
            return []
        marks = ", ".join("?" * len(room_ids))
        rows = self.db.read(
            "SELECT room_id, state_key, json_extract(pdu, '$.content.membership') FROM events"
            f" WHERE room_id IN ({marks}) AND type = 'm.room.member' AND stream_ordering > ?"
            " AND stream_ordering <= ? ORDER BY stream_ordering", (*room_ids, after, upto))
        return [(r[0], r[1], str(r[2])) for r in rows]
