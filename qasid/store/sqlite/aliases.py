"""Local room aliases and the public-room list: small lookups beside the events."""

from __future__ import annotations

import sqlite3

from qasid.store.sqlite.engine import Database


class AliasStore:
    """Typed persistence for room aliases."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def public_rooms(self) -> list[str]:
        """Rooms whose join rule is public."""
        rows = self.db.read(
            "SELECT s.room_id FROM current_state s JOIN events e ON e.event_id = s.event_id"
            " WHERE s.type = 'm.room.join_rules' AND s.state_key = ''"
            " AND json_extract(e.pdu, '$.content.join_rule') = 'public'")
        return [r[0] for r in rows]

    async def set_alias(self, alias: str, room_id: str, creator: str) -> bool:
        """Claim a local alias for a room; False when it is taken."""
        def txn(conn: sqlite3.Connection) -> bool:
            claimed = conn.execute("INSERT OR IGNORE INTO room_aliases (room_alias, room_id, creator) VALUES (?, ?, ?)",
                                   (alias, room_id, creator))
            return bool(claimed.rowcount == 1)

        return await self.db.write(txn)

    async def aliases_of_room(self, room_id: str) -> list[str]:
        """The room's local aliases, sorted."""
        rows = self.db.read("SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY room_alias", (room_id,))
        return [r[0] for r in rows]

    async def move_aliases(self, from_room: str, to_room: str) -> list[str]:
        """Point every local alias of one room at another (a room upgrade); returns them, sorted."""

        def txn(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY room_alias",
                                (from_room,)).fetchall()
            conn.execute("UPDATE room_aliases SET room_id = ? WHERE room_id = ?", (to_room, from_room))
            return [r[0] for r in rows]

        return await self.db.write(txn)

    async def resolve_alias(self, alias: str) -> str | None:
        """The room a local alias points at, or None."""
        row = self.db.read_one("SELECT room_id FROM room_aliases WHERE room_alias = ?", (alias,))
        return row[0] if row else None

    async def delete_alias(self, alias: str) -> bool:
        """Remove a local alias; False when there was none."""
        def txn(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM room_aliases WHERE room_alias = ?", (alias,)).rowcount > 0

        return await self.db.write(txn)
