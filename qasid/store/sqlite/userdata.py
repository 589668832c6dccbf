"""Account data, receipts, filters, presence: per-user and per-room data that is not events.

Also the published room directory flag (`rooms.is_public`), which is per-room data that is
not an event either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qasid.core import jsonutil
from qasid.store.sqlite.engine import Database

GLOBAL = ""  # the room_id of global account data


@dataclass(frozen=True)
class AccountDataRow:
    stream_id: int
    room_id: str  # '' for global account data
    type: str
    content: dict[str, Any]


@dataclass(frozen=True)
class ReceiptRow:
    stream_id: int
    room_id: str
    user_id: str
    receipt_type: str
    thread_id: str  # '' when unthreaded
    event_id: str
    ts: int


@dataclass(frozen=True)
class PresenceRow:
    user_id: str
    presence: str
    status_msg: str | None
    last_active_ts: int


class UserDataStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # How many receipts each user has stored since start: a count derived from their
        # receipts (a push's badge) is still right while this has not moved.
        self._receipt_writes: dict[str, int] = {}

    def receipt_stored_elsewhere(self, user_id: str) -> None:
        """Another worker stored a receipt of the user: what was derived from their receipts is stale."""
        self._receipt_writes[user_id] = self._receipt_writes.get(user_id, 0) + 1

    def receipt_version(self, user_id: str) -> int:
        """Moves after every receipt the user stores."""
        return self._receipt_writes.get(user_id, 0)

    # --- account data ---------------------------------------------------------------------

    async def set_account_data(self, user_id: str, room_id: str, type_: str, content: dict[str, Any]) -> int:
        """Replace one account data entry; returns its new stream position."""
        return await self.update_account_data(user_id, room_id, type_, lambda _: content)

    async def update_account_data(
        self, user_id: str, room_id: str, type_: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
    ) -> int:
        """Read-modify-write one entry atomically in the writer; `change` may raise to refuse."""

        def txn(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?",
                (user_id, room_id, type_)).fetchone()
            content = change(jsonutil.loads_stored(row[0]) if row else None)
            stream_id = self.db.next_id(conn, "account_data", "stream_id")
            conn.execute(
                "INSERT INTO account_data (stream_id, user_id, room_id, type, content) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, room_id, type) DO UPDATE SET stream_id = excluded.stream_id,"
                " content = excluded.content",
                (stream_id, user_id, room_id, type_, jsonutil.dumps(content)))
            return stream_id

        return await self.db.write(txn)

    async def get_account_data(self, user_id: str, room_id: str, type_: str) -> dict[str, Any] | None:
        """The content of one entry, or None."""
        row = self.db.read_one(
            "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?",
            (user_id, room_id, type_))
        return jsonutil.loads_stored(row[0]) if row else None

    async def account_data_after(self, user_id: str, after: int) -> list[AccountDataRow]:
        """Every entry of the user changed after stream position `after`, oldest first."""
        rows = self.db.read(
            "SELECT stream_id, room_id, type, content FROM account_data WHERE user_id = ? AND stream_id > ?"
            " ORDER BY stream_id", (user_id, after))
        return [AccountDataRow(r[0], r[1], r[2], jsonutil.loads_stored(r[3])) for r in rows]

    # --- filters --------------------------------------------------------------------------

    async def create_filter(self, user_id: str, filter_json: dict[str, Any]) -> int:
        """Store a filter as given; returns its per-user ID."""

        def txn(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT coalesce(max(filter_id), 0) FROM filters WHERE user_id = ?", (user_id,)).fetchone()
            filter_id = int(row[0]) + 1
            conn.execute("INSERT INTO filters (user_id, filter_id, filter_json) VALUES (?, ?, ?)",
                         (user_id, filter_id, jsonutil.dumps(filter_json)))
            return filter_id

        return await self.db.write(txn)

    async def get_filter(self, user_id: str, filter_id: int) -> dict[str, Any] | None:
        """A stored filter, or None."""
        row = self.db.read_one(
            "SELECT filter_json FROM filters WHERE user_id = ? AND filter_id = ?", (user_id, filter_id))
        return jsonutil.loads_stored(row[0]) if row else None

    # --- receipts -------------------------------------------------------------------------

    async def set_receipt(
        self, room_id: str, user_id: str, receipt_type: str, thread_id: str, event_id: str, ts: int,
    ) -> int:
        """Replace the user's receipt of this type (and thread) in the room; returns its stream position."""

        def txn(conn: sqlite3.Connection) -> int:
            stream_id = self.db.next_id(conn, "receipts", "stream_id")
            conn.execute(
                "INSERT INTO receipts (stream_id, room_id, user_id, receipt_type, thread_id, event_id, ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (room_id, user_id, receipt_type, thread_id)"
                " DO UPDATE SET stream_id = excluded.stream_id, event_id = excluded.event_id, ts = excluded.ts",
                (stream_id, room_id, user_id, receipt_type, thread_id, event_id, ts))
            return stream_id

        try:
            return await self.db.write(txn)
        finally:
            self._receipt_writes[user_id] = self._receipt_writes.get(user_id, 0) + 1

    async def receipts_after(self, room_ids: list[str], after: int) -> list[ReceiptRow]:
        """Receipts in these rooms changed after stream position `after`."""
        if not room_ids:
            return []
        marks = ",".join("?" * len(room_ids))
        rows = self.db.read(
            "SELECT stream_id, room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts"
            f" WHERE room_id IN ({marks}) AND stream_id > ? ORDER BY stream_id", (*room_ids, after))
        return [ReceiptRow(*r) for r in rows]

    # --- presence -------------------------------------------------------------------------

    async def set_presence(
        self, user_id: str, presence: str, status_msg: str | None, now_ms: int, announce: bool = True,
    ) -> None:
        """Record the user's presence and that they were active now.

        `announce`: the change takes the next position of the presence stream, so syncs send it.
        """
        def txn(conn: sqlite3.Connection) -> None:
            position = conn.execute("SELECT coalesce(max(stream_id), 0) + 1 FROM presence").fetchone()[0]
            conn.execute(
                "INSERT INTO presence (user_id, presence, status_msg, last_active_ts, stream_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence,"
                " status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts,"
                " stream_id = CASE WHEN ? = 1 THEN excluded.stream_id ELSE presence.stream_id END",
                (user_id, presence, status_msg, now_ms, position if announce else 0, int(announce)))

        await self.db.write(txn)

    async def get_presence(self, user_id: str) -> PresenceRow | None:
        """The user's last recorded presence, or None."""
        row = self.db.read_one(
            "SELECT user_id, presence, status_msg, last_active_ts FROM presence WHERE user_id = ?", (user_id,))
        return PresenceRow(*row) if row else None

    async def presence_after(self, after: int, limit: int) -> list[PresenceRow]:
        """Presence announced after position `after`, oldest first."""
        rows = self.db.read(
            "SELECT user_id, presence, status_msg, last_active_ts FROM presence WHERE stream_id > ?"
            " ORDER BY stream_id LIMIT ?", (after, limit))
        return [PresenceRow(*r) for r in rows]

    async def presence_of(self, user_ids: list[str]) -> list[PresenceRow]:
        """The recorded presence of these users (those who have one)."""
        if not user_ids:
            return []
        marks = ",".join("?" * len(user_ids))
        rows = self.db.read(
            f"SELECT user_id, presence, status_msg, last_active_ts FROM presence WHERE user_id IN ({marks})",
            user_ids)
        return [PresenceRow(*r) for r in rows]

    # --- published room directory ---------------------------------------------------------

    async def set_room_published(self, room_id: str, published: bool) -> bool:
        """Publish or unpublish a room in the room directory; False if the room is unknown."""

        def txn(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE rooms SET is_public = ? WHERE room_id = ?", (int(published), room_id))
            return cur.rowcount > 0

        return await self.db.write(txn)

    async def room_published(self, room_id: str) -> bool | None:
        """Whether the room is published; None if the room is unknown."""
        row = self.db.read_one("SELECT is_public FROM rooms WHERE room_id = ?", (room_id,))
        return bool(row[0]) if row else None

    async def alias_creator(self, alias: str) -> str | None:
        """Who created a room alias, or None if it does not exist."""
        row = self.db.read_one("SELECT creator FROM room_aliases WHERE room_alias = ?", (alias,))
        return row[0] if row else None

    async def published_room_ids(self) -> list[str]:
        """Every published room, oldest first."""
        rows = self.db.read("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY created_ts, room_id")
        return [r[0] for r in rows]
