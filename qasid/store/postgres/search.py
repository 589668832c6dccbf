"""Full-text search on PostgreSQL: a tsvector column and a GIN index in place of SQLite's FTS5."""

from __future__ import annotations

import asyncio
import re

from qasid.store.postgres.engine import PgDatabase
from qasid.store.sqlite.search import SearchHit

_WORD = re.compile(r"\w+")


def tsquery(terms: tuple[str, ...]) -> str:
    """Every word of every term as a prefix, all required; only word characters reach the query."""
    return " & ".join(f"'{word}':*" for term in terms for word in _WORD.findall(term.lower()))


class PgSearchStore:
    """Reads the index that the append path fills (`event_search`, one row per searchable event)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    def matches(self, terms: tuple[str, ...], room_ids: list[str], keys: list[str], *, by_rank: bool, limit: int,
                before: int | None = None) -> list[SearchHit]:
        """Up to `limit` events of these rooms whose indexed key holds every term (as a word's prefix), best or newest first."""
        query = tsquery(terms)
        if not room_ids or not keys or not query:
            return []
        order = "rank DESC, rowid DESC" if by_rank else "rowid DESC"
        below = "" if before is None else " AND rowid < ?"
        rows = self.db.read(
            "SELECT rowid, ts_rank(words, q) AS rank FROM event_search, to_tsquery('simple', ?) AS q WHERE words @@ q"
            f" AND room_id IN ({','.join('?' * len(room_ids))}) AND key IN ({','.join('?' * len(keys))}){below}"
            f" ORDER BY {order} LIMIT ?", [query, *room_ids, *keys, *([before] if before is not None else []), limit])
        return [SearchHit(int(r[0]), float(r[1])) for r in rows]

    async def rewrite(self) -> None:
        """Vacuum the index: the words of deleted rows, left in dead row versions until then, are freed."""
        await asyncio.to_thread(self.db.execute_now, "VACUUM event_search")
