"""Event relationships: the index written at append, and the reads of /relations, /threads and bundles."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from qasid.store.sqlite.engine import Database

THREAD = "m.thread"
# How deep `recurse=true` follows relations of relations (the spec asks for at least 3).
RECURSION_DEPTH = 3
_COLUMNS = "event_id, relates_to_id, rel_type, room_id, sender, type, stream_ordering"


class RelationRow(NamedTuple):
    """One child event's relation to its parent."""

    event_id: str
    relates_to_id: str
    rel_type: str
    room_id: str
    sender: str
    type: str
    stream_ordering: int


class ThreadRow(NamedTuple):
    """A thread of a room: its root and the position of its latest reply."""

    root_id: str
    root_sender: str
    latest_stream_ordering: int


def insert_relation(
    conn: sqlite3.Connection, event_id: str, pdu: dict[str, Any], relation: tuple[str, str], stream_ordering: int,
) -> None:
    """Index an appended event's relation (in the event's transaction); a thread reply moves its thread up."""
    rel_type, parent = relation
    room_id = pdu["room_id"]
    conn.execute(
        f"INSERT OR IGNORE INTO event_relations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event_id, parent, rel_type, room_id, pdu["sender"], pdu["type"], stream_ordering))
    if rel_type == THREAD:
        # Only for a root the room holds: a reply to an unknown event starts no thread.
        conn.execute(
            "INSERT INTO threads (room_id, root_id, root_sender, latest_stream_ordering)"
            " SELECT ?, event_id, sender, ? FROM events WHERE event_id = ? AND room_id = ?"
            " ON CONFLICT (room_id, root_id) DO UPDATE SET latest_stream_ordering = CASE"
            " WHEN excluded.latest_stream_ordering > threads.latest_stream_ordering"
            " THEN excluded.latest_stream_ordering ELSE threads.latest_stream_ordering END",
            (room_id, stream_ordering, parent, room_id))


def forget_relations(conn: sqlite3.Connection, event_ids: list[str]) -> None:
    """Drop the relations of redacted or purged events; their threads fall back to the latest reply left."""
    roots: set[tuple[str, str]] = set()
    for event_id in event_ids:
        row = conn.execute("SELECT relates_to_id, room_id, rel_type FROM event_relations WHERE event_id = ?",
                           (event_id,)).fetchone()
        if row is None:
            continue
        conn.execute("DELETE FROM event_relations WHERE event_id = ?", (event_id,))
        if row[2] == THREAD:
            roots.add((row[1], row[0]))
    for room_id, root_id in roots:
        latest = conn.execute(
            "SELECT max(stream_ordering) FROM event_relations WHERE relates_to_id = ? AND rel_type = ?"
            " AND room_id = ?", (root_id, THREAD, room_id)).fetchone()[0]
        if latest is None:
            conn.execute("DELETE FROM threads WHERE room_id = ? AND root_id = ?", (room_id, root_id))
        else:
            conn.execute("UPDATE threads SET latest_stream_ordering = ? WHERE room_id = ? AND root_id = ?",
                         (latest, room_id, root_id))


class RelationStore:
    """Typed reads of the relation index."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def children(self, parent_ids: list[str], rel_types: tuple[str, ...]) -> list[RelationRow]:
        """Every child of these parents with one of these relation types, oldest first."""
        if not parent_ids:
            return []
        parents = ", ".join("?" * len(parent_ids))
        types = ", ".join("?" * len(rel_types))
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM event_relations WHERE relates_to_id IN ({parents}) AND rel_type IN ({types})"
            " ORDER BY stream_ordering", (*parent_ids, *rel_types))
        return [RelationRow(*r) for r in rows]

    async def relation_of(self, event_id: str) -> RelationRow | None:
        """The relation an event declares, if it was indexed."""
        row = self.db.read_one(f"SELECT {_COLUMNS} FROM event_relations WHERE event_id = ?", (event_id,))
        return RelationRow(*row) if row else None

    async def participated(self, root_ids: list[str], user_id: str) -> set[str]:
        """Which of these thread roots have a reply by the user."""
        if not root_ids:
            return set()
        marks = ", ".join("?" * len(root_ids))
        rows = self.db.read(
            f"SELECT DISTINCT relates_to_id FROM event_relations WHERE relates_to_id IN ({marks})"
            " AND sender = ? AND rel_type = 'm.thread'", (*root_ids, user_id))
        return {r[0] for r in rows}

    async def page(
        self, parent_id: str, room_id: str, rel_type: str | None, event_type: str | None,
        after: int, upto: int, limit: int, descending: bool, recurse: bool,
    ) -> list[RelationRow]:
        """Children (or, with `recurse`, descendants) in (after, upto], nearest first in the direction."""
        where = ["room_id = ?", "stream_ordering > ?", "stream_ordering <= ?"]
        params: list[Any] = [room_id, after, upto]
        if rel_type is not None:
            where.append("rel_type = ?")
            params.append(rel_type)
        if event_type is not None:
            where.append("type = ?")
            params.append(event_type)
        order = "DESC" if descending else "ASC"
        if recurse:
            # The filters apply to every level reached, as in Synapse; UNION ends any cycle.
            sql = (
                "WITH RECURSIVE related (event_id, depth) AS ("
                " SELECT event_id, 1 FROM event_relations WHERE relates_to_id = ?"
                " UNION SELECT r.event_id, related.depth + 1 FROM event_relations r"
                " JOIN related ON r.relates_to_id = related.event_id WHERE related.depth < ?)"
                f" SELECT DISTINCT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))}"
                " FROM related JOIN event_relations e USING (event_id)"
                f" WHERE {' AND '.join('e.' + w for w in where)} ORDER BY e.stream_ordering {order} LIMIT ?")
            rows = self.db.read(sql, (parent_id, RECURSION_DEPTH, *params, limit))
        else:
            rows = self.db.read(
                f"SELECT {_COLUMNS} FROM event_relations WHERE relates_to_id = ? AND {' AND '.join(where)}"
                f" ORDER BY stream_ordering {order} LIMIT ?", (parent_id, *params, limit))
        return [RelationRow(*r) for r in rows]

    async def threads(
        self, room_id: str, before: int, upto: int | None, limit: int, participant: str | None,
    ) -> list[ThreadRow]:
        """The room's threads whose latest reply is before `before`, latest first; with `participant`,
        only those they started or replied in. With `upto` (a former member's leave), replies after
        it do not count: the order must not tell what happened since."""
        mine = ("root_sender = ? OR EXISTS (SELECT 1 FROM event_relations p WHERE p.relates_to_id = root_id"
                " AND p.sender = ? AND p.rel_type = 'm.thread')")
        if upto is None:
            where = "room_id = ? AND latest_stream_ordering < ?"
            params: list[Any] = [room_id, before]
            if participant is not None:
                where += f" AND ({mine})"
                params += [participant, participant]
            rows = self.db.read(
                f"SELECT root_id, root_sender, latest_stream_ordering FROM threads WHERE {where}"
                " ORDER BY latest_stream_ordering DESC LIMIT ?", (*params, limit))
            return [ThreadRow(*r) for r in rows]
        having = f" AND ({mine})" if participant is not None else ""
        rows = self.db.read(
            "SELECT root_id, root_sender, latest FROM (SELECT r.relates_to_id AS root_id, t.root_sender,"
            " max(r.stream_ordering) AS latest FROM event_relations r JOIN threads t"
            " ON t.room_id = r.room_id AND t.root_id = r.relates_to_id"
            " WHERE r.room_id = ? AND r.rel_type = 'm.thread' AND r.stream_ordering <= ?"
            f" GROUP BY r.relates_to_id, t.root_sender) AS latest_replies WHERE latest < ?{having}"
            " ORDER BY latest DESC LIMIT ?",
            (room_id, upto, before, *([participant, participant] if participant else []), limit))
        return [ThreadRow(*r) for r in rows]
