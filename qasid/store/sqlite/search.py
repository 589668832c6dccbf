"""The full-text index of what the server can read (plaintext bodies, room names and topics)."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from qasid.store.sqlite.engine import Database

# What server-side search indexes, by event type: only what the server can read. An
# m.room.encrypted event has no such key, so ciphertext is never indexed.
SEARCH_KEYS = {"m.room.message": "content.body", "m.room.name": "content.name", "m.room.topic": "content.topic"}


def searchable_text(pdu: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) the search index keeps for this event, or None (encrypted, state of another kind, no text)."""
    key = SEARCH_KEYS.get(pdu.get("type", ""))
    # A message is a timeline event; a name or topic is the room's state (empty state key).
    if key is None or pdu.get("state_key") != (None if key == "content.body" else ""):
        return None
    content = pdu.get("content")
    text = content.get(key.split(".", 1)[1]) if isinstance(content, dict) else None
    return (key, text) if isinstance(text, str) and text else None



def match_expression(terms: tuple[str, ...]) -> str:
    """The FTS5 query for the terms: every term, each as a quoted prefix (no FTS5 syntax gets through)."""
    return " ".join('"' + t.replace('"', '""') + '"*' for t in terms)


class SearchHit(NamedTuple):
    """One indexed event that matches: its stream position and rank (higher is better)."""

    stream_ordering: int
    rank: float


class SearchStore:
    """Reads the FTS5 index that the append path fills (events.searchable_text)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def matches(self, terms: tuple[str, ...], room_ids: list[str], keys: list[str], *, by_rank: bool, limit: int,
                before: int | None = None) -> list[SearchHit]:
        """Up to `limit` events of these rooms whose indexed key holds every term (as a word's prefix), best or newest first."""
        if not room_ids or not keys:
            return []
        order = "bm25(event_search), rowid DESC" if by_rank else "rowid DESC"
        below = "" if before is None else " AND rowid < ?"
        rows = self.db.read(
            f"SELECT rowid, -bm25(event_search) FROM event_search WHERE event_search MATCH ?"
            f" AND room_id IN ({','.join('?' * len(room_ids))}) AND key IN ({','.join('?' * len(keys))}){below}"
            f" ORDER BY {order} LIMIT ?", [match_expression(terms), *room_ids, *keys, *([before] if before is not None else []), limit])
        return [SearchHit(int(r[0]), float(r[1])) for r in rows]

    async def rewrite(self) -> None:
        """Merge the index's segments, overwriting what was freed: words of deleted rows leave the file."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("INSERT INTO event_search (event_search) VALUES ('optimize')")

        await self.db.write(txn)
