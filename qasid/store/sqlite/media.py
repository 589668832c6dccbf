"""Uploaded media metadata (the bytes live in files under the data folder).

A media ID reserved with POST /_matrix/media/v1/create but not yet uploaded is a row with
size = -1 (PENDING_SIZE); its upload fills in the content type, filename and size.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from qasid.store.sqlite.engine import Database

PENDING_SIZE = -1


@dataclass(frozen=True)
class MediaRow:
    media_id: str
    user_id: str
    content_type: str
    filename: str | None
    size: int
    created_ts: int

    @property
    def pending(self) -> bool:
        return self.size == PENDING_SIZE


class MediaStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_media(
        self, media_id: str, user_id: str, content_type: str, filename: str | None, size: int, now_ms: int,
    ) -> None:
        """Record an uploaded file (its bytes are already durable on disk)."""
        await self.db.write(lambda c: c.execute(
            "INSERT INTO media (media_id, user_id, content_type, filename, size, created_ts)"
            " VALUES (?, ?, ?, ?, ?, ?)", (media_id, user_id, content_type, filename, size, now_ms)))

    async def reserve_media(self, media_id: str, user_id: str, now_ms: int) -> None:
        """Reserve a media ID for a later upload by `user_id`."""
        await self.add_media(media_id, user_id, "", None, PENDING_SIZE, now_ms)

    async def complete_media(
        self, media_id: str, user_id: str, content_type: str, filename: str | None, size: int,
    ) -> bool:
        """Fill in a reserved ID; False if it is not (or no longer) pending for this user."""

        def txn(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE media SET content_type = ?, filename = ?, size = ?"
                " WHERE media_id = ? AND user_id = ? AND size = ?",
                (content_type, filename, size, media_id, user_id, PENDING_SIZE))
            return cur.rowcount > 0

        return await self.db.write(txn)

    async def get_media(self, media_id: str) -> MediaRow | None:
        """One media row, pending or uploaded, or None."""
        row = self.db.read_one(
            "SELECT media_id, user_id, content_type, filename, size, created_ts FROM media WHERE media_id = ?",
            (media_id,))
        return MediaRow(*row) if row else None

    async def pending_count(self, user_id: str, since_ms: int) -> int:
        """How many unexpired reservations the user holds."""
        row = self.db.read_one(
            "SELECT count(*) FROM media WHERE user_id = ? AND size = ? AND created_ts > ?",
            (user_id, PENDING_SIZE, since_ms))
        return int(row[0])
