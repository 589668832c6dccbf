"""The full-text index of what the server can read (plaintext bodies, room names and topics)."""

from __future__ import annotations

from typing import NamedTuple

from qasid.store.sqlite.engine import Database


class SearchHit(NamedTuple):
    """One indexed event that matches: its stream position and rank (higher is better)."""

    stream_ordering: int
    rank: float


class SearchStore:
    """Reads the FTS5 index that the append path fills (events.searchable_text)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def matches(self, match: str, room_ids: list[str], keys: list[str], *, by_rank: bool, limit: int,
                before: int | None = None) -> list[SearchHit]:
        """Up to `limit` events of these rooms whose indexed key matches the FTS5 expression, best or newest first."""
        if not room_ids or not keys:
            return []
        order = "bm25(event_search), rowid DESC" if by_rank else "rowid DESC"
        below = "" if before is None else " AND rowid < ?"
        rows = self.db.read(
            f"SELECT rowid, -bm25(event_search) FROM event_search WHERE event_search MATCH ?"
            f" AND room_id IN ({','.join('?' * len(room_ids))}) AND key IN ({','.join('?' * len(keys))}){below}"
            f" ORDER BY {order} LIMIT ?", [match, *room_ids, *keys, *([before] if before is not None else []), limit])
        return [SearchHit(int(r[0]), float(r[1])) for r in rows]
