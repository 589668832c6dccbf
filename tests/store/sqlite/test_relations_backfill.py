"""Migration 013 indexes the relations of events stored before it, and the threads they form."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from qasid.store.sqlite.engine import connect, migrate
from tests.store.sqlite.test_migrations import migrations_up_to

ROOM = "!room:qasid.test"


def _event(conn: sqlite3.Connection, order: int, event_id: str, sender: str, content: dict[str, object],
           room_id: str = ROOM, redacted_by: str | None = None) -> None:
    pdu = {"type": "m.room.message", "room_id": room_id, "sender": sender, "content": content}
    conn.execute(
        "INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, origin_server_ts, depth,"
        " pdu, redacted_by) VALUES (?, ?, ?, 'm.room.message', NULL, ?, 0, ?, ?, ?)",
        (order, event_id, room_id, sender, order, json.dumps(pdu).encode(), redacted_by))


def test_existing_relations_and_threads_are_backfilled(tmp_path: Path) -> None:
    database = tmp_path / "qasid.db"
    conn = connect(database)
    migrate(conn, migrations_up_to(tmp_path / "old", 12))
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    _event(conn, 1, "$root", "@alice:qasid.test", {"body": "root"})
    _event(conn, 2, "$reply1", "@bob:qasid.test", {"body": "a", **thread})
    _event(conn, 3, "$reply2", "@carol:qasid.test", {"body": "b", **thread})
    _event(conn, 4, "$gone", "@bob:qasid.test", {}, redacted_by="$redaction")
    _event(conn, 5, "$reply_only", "@bob:qasid.test", {"body": "r", "m.relates_to": {"m.in_reply_to": {
        "event_id": "$root"}}})
    _event(conn, 6, "$orphan", "@bob:qasid.test", {"m.relates_to": {"rel_type": "m.thread", "event_id": "$nowhere"}})
    _event(conn, 7, "$bad", "@bob:qasid.test", {"m.relates_to": {"rel_type": 5, "event_id": "$root"}})
    migrate(conn, migrations_up_to(tmp_path / "new", 13))
    relations = conn.execute(
        "SELECT event_id, relates_to_id, rel_type, sender, stream_ordering FROM event_relations"
        " ORDER BY stream_ordering").fetchall()
    assert relations == [("$reply1", "$root", "m.thread", "@bob:qasid.test", 2),
                         ("$reply2", "$root", "m.thread", "@carol:qasid.test", 3),
                         ("$orphan", "$nowhere", "m.thread", "@bob:qasid.test", 6)]
    # A thread needs its root in the room.
    assert conn.execute("SELECT room_id, root_id, root_sender, latest_stream_ordering FROM threads").fetchall() == [
        (ROOM, "$root", "@alice:qasid.test", 3)]
    conn.close()
