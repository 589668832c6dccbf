"""Erasure for retention: purging old timeline events and media rows so no copy stays in the file.

Deletes run with `secure_delete` (freed pages are overwritten), and a WAL checkpoint with
TRUNCATE afterwards leaves no old page in the write-ahead log either. What to purge, and when,
is decided by gov/maintenance.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from qasid.store.sqlite.engine import Also, Database, with_also, with_then
from qasid.store.sqlite.relations import forget_relations


class RetentionStore:
    """Typed SQL for retention: which rooms set a policy, the purge itself, media deletion."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def room_state_contents(self, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        """(room_id, content) of every room's current state event of this type with an empty state key."""
        rows = self.db.read(
            "SELECT s.room_id, e.pdu FROM current_state s JOIN events e ON e.event_id = s.event_id"
            " WHERE s.type = ? AND s.state_key = ''", (event_type,))
        return [(room_id, json.loads(pdu)["content"]) for room_id, pdu in rows]

    async def purge_timeline(
        self, room_id: str, before_ts: int, then: Callable[[list[Any]], Sequence[Also]] = lambda contents: (),
    ) -> list[Any]:
        """Securely delete a room's timeline events sent before `before_ts`, in one transaction; their contents.

        `then(contents)` (the purge's audit entry) runs in the same transaction."""

        def txn(conn: sqlite3.Connection) -> list[Any]:
            conn.execute("PRAGMA secure_delete = ON")
            # State events stay (the room is authorised against them), and so does the newest
            # event of all: it holds the stream position.
            rows = conn.execute(
                "SELECT stream_ordering, pdu, event_id FROM events WHERE room_id = ? AND state_key IS NULL"
                " AND origin_server_ts < ? AND stream_ordering < (SELECT max(stream_ordering) FROM events)",
                (room_id, before_ts)).fetchall()
            contents = [json.loads(pdu).get("content") for _, pdu, _ in rows]
            conn.executemany("DELETE FROM events WHERE stream_ordering = ?", [(r[0],) for r in rows])
            forget_relations(conn, [r[2] for r in rows])
            if rows and self.db.dialect == "sqlite":
                # A trigger took the purged events out of the search index; merging its segments
                # drops their words from the index file too. (PostgreSQL: vacuuming does.)
                conn.execute("INSERT INTO event_search (event_search) VALUES ('optimize')")
            return contents

        return await self.db.write(with_then(txn, then))

    def media_uploads(self) -> list[tuple[str, str, int]]:
        """(media_id, user_id, created_ts) of every media row."""
        rows = self.db.read("SELECT media_id, user_id, created_ts FROM media")
        return [(r[0], r[1], r[2]) for r in rows]

    async def delete_media(self, media_ids: list[str], also: Sequence[Also] = ()) -> None:
        """Securely delete these media rows (the files are the caller's to remove); `also` in the same transaction."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete = ON")
            conn.executemany("DELETE FROM media WHERE media_id = ?", [(m,) for m in media_ids])

        await self.db.write(with_also(txn, also))

    def checkpoint_wal(self) -> None:
        """Give back the space the write-ahead log took (SQLite's WAL file); blocking: run it off the event loop."""
        self.db.checkpoint()
