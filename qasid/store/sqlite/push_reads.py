"""What push delivery reads, on a read-only connection of its own (it runs in its own process).

Delivery never writes here: what the gateways took, and pushers to remove, go back to the
server process, whose one writer does it. So this process needs no lock on the database and
holds no cache that the server's writes could leave stale: every answer is read fresh.
"""

from __future__ import annotations

from typing import Any

from qasid.config import Settings
from qasid.core import jsonutil
from qasid.store.sqlite.engine import connect
from qasid.store.sqlite.push import (
    PUSHER_COLUMNS,
    PusherRow,
    QueuedPush,
    pusher_of,
    receipt_positions,
    unread_by_thread,
)


class PushReads:
    """Typed reads of the push queue, pushers, devices and unread counts."""

    def __init__(self, settings: Settings) -> None:
        self._conn: Any
        if settings.database_url:
            from qasid.store.postgres.connection import PgConnection

            self._conn = PgConnection(settings.database_url)
        else:
            self._conn = connect(settings.database_path)
            self._conn.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        """Close the connection (the process is ending)."""
        self._conn.close()

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def queued(self, pusher_id: int, limit: int, after: int = 0) -> list[QueuedPush]:
        """The oldest notifications queued for a pusher (past `after`: those up to it were sent)."""
        rows = self._read(
            "SELECT pusher_id, stream_ordering, room_id, event_id, actions FROM push_queue WHERE pusher_id = ?"
            " AND stream_ordering > ? ORDER BY stream_ordering LIMIT ?", (pusher_id, after, limit))
        return [QueuedPush(r[0], r[1], r[2], r[3], jsonutil.loads_stored(r[4])) for r in rows]

    def pushers_with_queue(self) -> list[int]:
        """Pushers with anything queued (delivery resumes for these at start)."""
        return [r[0] for r in self._read("SELECT DISTINCT pusher_id FROM push_queue")]

    def pusher(self, pusher_id: int) -> tuple[PusherRow, bool] | None:
        """One pusher as stored now, and whether the device that set it still exists (a pusher
        whose device signed out goes too); None once removed."""
        rows = self._read(
            f"SELECT {PUSHER_COLUMNS}, device_id IS NULL OR EXISTS (SELECT 1 FROM devices d"
            " WHERE d.user_id = pushers.user_id AND d.device_id = pushers.device_id)"
            " FROM pushers WHERE pusher_id = ?", (pusher_id,))
        return (pusher_of(rows[0]), bool(rows[0][-1])) if rows else None

    def position(self) -> int:
        """The end of the committed event stream."""
        rows = self._read("SELECT max(stream_ordering) FROM events")
        return int(rows[0][0] or 0)

    def notifications_since(self, user_id: str, after: int) -> tuple[int, int]:
        """The end of the committed event stream, and how many of the user's notifications
        (in every room) are after `after` and up to it."""
        rows = self._read(
            "SELECT upto, (SELECT count(*) FROM event_push_actions WHERE user_id = ? AND stream_ordering > ?"
            " AND stream_ordering <= upto) FROM (SELECT coalesce(max(stream_ordering), 0) AS upto FROM events) AS newest",
            (user_id, after))
        return int(rows[0][0]), int(rows[0][1])

    def unread_upto(self, user_id: str, upto: int) -> tuple[int, bool]:
        """The user's unread notifications in every room, up to `upto`; and whether that count is
        exact for `upto` (False when a receipt already points past it)."""
        total, exact = 0, True
        for (room_id,) in self._read("SELECT DISTINCT room_id FROM event_push_actions WHERE user_id = ?", (user_id,)):
            receipts = receipt_positions(self._read, room_id, user_id)
            exact = exact and all(position <= upto for position in receipts.values())
            for _, notifications, _ in unread_by_thread(self._read, room_id, user_id, receipts, upto):
                total += notifications
        return total, exact

    def event_pdu(self, event_id: str) -> dict[str, Any] | None:
        """The event as stored (only read when the operator lets content leave the server)."""
        rows = self._read("SELECT pdu FROM events WHERE event_id = ?", (event_id,))
        pdu = jsonutil.loads_stored(rows[0][0]) if rows else None
        return pdu if isinstance(pdu, dict) else None
