"""Push notifications: per-recipient push actions, pushers, and the gateway delivery queue."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from qasid.core import jsonutil
from qasid.store.sqlite.engine import Database

READ_RECEIPTS = "('m.read', 'm.read.private')"
# Rooms counted by one read of `unread_in` (SQLite allows 500 terms in a compound SELECT).
UNREAD_ROOMS_PER_READ = 100


class PushRow(NamedTuple):
    """One recipient's notification of one event, as the append path decided it."""

    user_id: str
    thread_id: str
    highlight: bool
    actions_json: bytes
    pusher_ids: tuple[int, ...]


class QueuedPush(NamedTuple):
    """A notification a pusher's gateway has not yet taken."""

    pusher_id: int
    stream_ordering: int
    room_id: str
    event_id: str
    actions: list[Any]


class NotificationRow(NamedTuple):
    """One row of GET /notifications."""

    stream_ordering: int
    room_id: str
    event_id: str
    thread_id: str
    actions: list[Any]
    ts: int


@dataclass(frozen=True)
class PusherRow:
    """A pusher as stored; `data` still holds the gateway URL."""

    pusher_id: int
    user_id: str
    device_id: str | None
    kind: str
    app_id: str
    pushkey: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    pushkey_ts: int


PUSHER_COLUMNS = ("pusher_id, user_id, device_id, kind, app_id, pushkey, app_display_name,"
                   " device_display_name, profile_tag, lang, data, pushkey_ts")


def pusher_of(r: Any) -> PusherRow:
    return PusherRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], jsonutil.loads_stored(r[10]), r[11])


Read = Callable[[str, tuple[Any, ...] | list[Any]], list[Any]]  # a connection's rows for (sql, params)


def receipt_positions(read: Read, room_id: str, user_id: str) -> dict[str, int]:
    """{thread_id: stream position} up to which the user has read the room ('' = every thread).

    The user's own latest membership event counts as an unthreaded receipt: nothing from
    before they joined (their invite included) is unread once they are in the room.
    """
    return receipt_positions_in(read, [room_id], user_id).get(room_id, {})


def receipt_positions_in(read: Read, room_ids: list[str], user_id: str) -> dict[str, dict[str, int]]:
    """`receipt_positions` of several rooms, in one read: {room_id: {thread_id: position}}."""
    marks = ", ".join("?" * len(room_ids))
    rows = read(
        "SELECT r.room_id, r.thread_id, max(e.stream_ordering) FROM receipts r"
        " JOIN events e ON e.event_id = r.event_id"
        f" WHERE r.user_id = ? AND r.room_id IN ({marks}) AND r.receipt_type IN {READ_RECEIPTS}"
        " GROUP BY r.room_id, r.thread_id"
        f" UNION ALL SELECT room_id, '', stream_ordering FROM room_memberships WHERE user_id = ? AND room_id IN ({marks})",
        (user_id, *room_ids, user_id, *room_ids))
    positions: dict[str, dict[str, int]] = {}
    for room_id, thread_id, position in rows:
        room = positions.setdefault(room_id, {})
        room[thread_id] = max(room.get(thread_id, 0), int(position))
    return positions


def unread_by_thread(
    read: Read, room_id: str, user_id: str, receipts: dict[str, int], upto: int | None = None,
) -> list[tuple[str, int, int]]:
    """(thread_id, notifications, highlights) after the receipts that cover each thread (and
    up to `upto`, when given)."""
    return [(thread, n, h) for _, thread, n, h in unread_in(read, user_id, {room_id: receipts}, upto)]


def unread_in(
    read: Read, user_id: str, receipts: dict[str, dict[str, int]], upto: int | None = None,
) -> list[tuple[str, str, int, int]]:
    """(room_id, thread_id, notifications, highlights) of several rooms, in one read: one
    branch per room, each along the index with its own receipts (UNREAD_ROOMS_PER_READ at most)."""
    branches: list[str] = []
    params: list[Any] = []
    for room_id, room_receipts in receipts.items():
        unthreaded = room_receipts.get("", 0)
        threaded = [(thread, max(pos, unthreaded)) for thread, pos in room_receipts.items()
                    if thread and pos > unthreaded]
        params += [user_id, room_id, unthreaded]
        bound = ""
        if threaded:
            cases = " ".join("WHEN ? THEN ?" for _ in threaded)
            bound = f" AND stream_ordering > CASE thread_id {cases} ELSE 0 END"
            params += [value for pair in threaded for value in pair]
        if upto is not None:
            bound += " AND stream_ordering <= ?"
            params.append(upto)
        branches.append("SELECT room_id, thread_id, count(*), coalesce(sum(highlight), 0) FROM event_push_actions"
                        f" WHERE user_id = ? AND room_id = ? AND stream_ordering > ?{bound} GROUP BY room_id, thread_id")
    if not branches:
        return []
    rows = read(" UNION ALL ".join(branches), params)
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def insert_push_rows(
    conn: sqlite3.Connection, stream_ordering: int, event_id: str, room_id: str, ts: int, rows: tuple[PushRow, ...],
) -> None:
    """Write an event's push actions and queue it for its recipients' pushers (in the event's transaction)."""
    conn.executemany(
        "INSERT INTO event_push_actions (stream_ordering, user_id, room_id, event_id, thread_id, highlight,"
        " actions, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(stream_ordering, r.user_id, room_id, event_id, r.thread_id, int(r.highlight), r.actions_json, ts)
         for r in rows])
    queued = [(pusher_id, stream_ordering, room_id, event_id, r.actions_json, pusher_id)
              for r in rows for pusher_id in r.pusher_ids]
    if queued:
        # Only for pushers that still exist: one removed meanwhile must not refuse the event.
        conn.executemany(
            "INSERT OR IGNORE INTO push_queue (pusher_id, stream_ordering, room_id, event_id, actions)"
            " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM pushers WHERE pusher_id = ?)", queued)


class PushStore:
    """Typed persistence for push actions, pushers and their queue."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- counts and notifications ---------------------------------------------------------

    async def receipt_positions(self, room_id: str, user_id: str) -> dict[str, int]:
        """{thread_id: stream position} up to which the user has read the room ('' = every thread)."""
        return receipt_positions(self.db.read, room_id, user_id)

    async def unread_by_thread(
        self, room_id: str, user_id: str, receipts: dict[str, int], upto: int | None = None,
    ) -> list[tuple[str, int, int]]:
        """(thread_id, notifications, highlights) after the receipts that cover each thread."""
        return unread_by_thread(self.db.read, room_id, user_id, receipts, upto)

    async def unread_in_rooms(self, room_ids: list[str], user_id: str) -> list[tuple[str, str, int, int]]:
        """(room_id, thread_id, notifications, highlights) after the user's receipts in each room:
        a few reads for a whole room list, where a read per room was two."""
        found: list[tuple[str, str, int, int]] = []
        for first in range(0, len(room_ids), UNREAD_ROOMS_PER_READ):
            chunk = room_ids[first:first + UNREAD_ROOMS_PER_READ]
            receipts = receipt_positions_in(self.db.read, chunk, user_id)
            found += unread_in(self.db.read, user_id, {room_id: receipts.get(room_id, {}) for room_id in chunk})
        return found

    async def notifications(
        self, user_id: str, before: int | None, limit: int, only_highlight: bool,
    ) -> list[NotificationRow]:
        """The user's notifications, newest first, before `before` (a stream position)."""
        rows = self.db.read(
            "SELECT stream_ordering, room_id, event_id, thread_id, actions, ts FROM event_push_actions"
            " WHERE user_id = ? AND stream_ordering < ?"
            f"{' AND highlight = 1' if only_highlight else ''}"
            " ORDER BY stream_ordering DESC LIMIT ?",
            (user_id, before if before is not None else 2**63 - 1, limit))
        return [NotificationRow(r[0], r[1], r[2], r[3], jsonutil.loads_stored(r[4]), r[5]) for r in rows]

    # --- pushers --------------------------------------------------------------------------

    async def all_pushers(self) -> list[PusherRow]:
        """Every pusher on the server (a few per user): kept in memory by the append path."""
        return [pusher_of(r) for r in self.db.read(f"SELECT {PUSHER_COLUMNS} FROM pushers ORDER BY pusher_id")]

    async def set_pusher(self, pusher: PusherRow, append: bool) -> tuple[PusherRow, list[int]]:
        """Create or update (by user, app_id, pushkey); returns it and the pushers it displaced.

        Without `append`, other users' pushers with the same app_id and pushkey are removed.
        """

        def txn(conn: sqlite3.Connection) -> tuple[PusherRow, list[int]]:
            removed: list[int] = []
            if not append:
                removed = [r[0] for r in conn.execute(
                    "SELECT pusher_id FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id != ?",
                    (pusher.app_id, pusher.pushkey, pusher.user_id))]
                _delete(conn, removed)
            conn.execute(
                "INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, app_display_name,"
                " device_display_name, profile_tag, lang, data, pushkey_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = excluded.device_id,"
                " kind = excluded.kind, app_display_name = excluded.app_display_name,"
                " device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag,"
                " lang = excluded.lang, data = excluded.data",
                (pusher.user_id, pusher.device_id, pusher.kind, pusher.app_id, pusher.pushkey,
                 pusher.app_display_name, pusher.device_display_name, pusher.profile_tag, pusher.lang,
                 jsonutil.dumps(pusher.data), pusher.pushkey_ts))
            row = conn.execute(f"SELECT {PUSHER_COLUMNS} FROM pushers WHERE user_id = ? AND app_id = ?"
                               " AND pushkey = ?", (pusher.user_id, pusher.app_id, pusher.pushkey)).fetchone()
            return pusher_of(row), removed

        return await self.db.write(txn)

    async def delete_pushers(self, pusher_ids: list[int]) -> None:
        """Remove pushers and whatever is queued for them."""
        if pusher_ids:
            await self.db.write(lambda conn: _delete(conn, pusher_ids))

    async def live_devices(self, user_id: str) -> set[str]:
        """The user's device IDs now (a pusher whose device is gone is removed)."""
        return {r[0] for r in self.db.read("SELECT device_id FROM devices WHERE user_id = ?", (user_id,))}

    # --- the delivery queue ---------------------------------------------------------------

    async def dequeue_upto(self, taken: dict[int, int]) -> None:
        """The gateways took each pusher's notifications up to these, in order: they leave the queue."""
        await self.db.write(lambda conn: conn.executemany(
            "DELETE FROM push_queue WHERE pusher_id = ? AND stream_ordering <= ?", list(taken.items())))


def _delete(conn: sqlite3.Connection, pusher_ids: list[int]) -> None:
    conn.executemany("DELETE FROM push_queue WHERE pusher_id = ?", [(p,) for p in pusher_ids])
    conn.executemany("DELETE FROM pushers WHERE pusher_id = ?", [(p,) for p in pusher_ids])
