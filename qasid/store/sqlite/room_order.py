"""Per-room order when several processes append to one database (PostgreSQL workers)."""

from __future__ import annotations

from typing import Any


class RoomMoved(Exception):
    """Another process appended to the room since this one built the event on its newest event:
    the event names the wrong prev_events and depth, so it is refused, to be built again."""


def check_still_newest(conn: Any, pdu: dict[str, Any]) -> None:
    """Refuse an event whose prev_events is not the room's newest event any more.

    Run under the writers' lock, so it sees every committed event of every process and the
    ones queued before it in this batch: per-room order and depth hold across workers.
    """
    row = conn.execute("SELECT event_id FROM events WHERE room_id = ? ORDER BY stream_ordering DESC LIMIT 1",
                       (pdu["room_id"],)).fetchone()
    newest = row[0] if row else None
    prev = pdu.get("prev_events") or [None]
    if prev[0] != newest:
        raise RoomMoved(pdu["room_id"])
