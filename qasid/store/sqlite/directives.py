"""Persistence of directives: their metadata, rooms, acknowledgements, and the receipts read back for status."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qasid.store.sqlite.engine import Also, Database, with_also

_COLUMNS = ("directive_id, issuer, title, unit_ids, deadline_ts, created_ts, created_by, room_id,"
            " message_event_id, message_ts, reminded_ts, remind_requested")


@dataclass(frozen=True)
class Directive:
    """One directive's metadata (never its text, which the server does not have)."""

    directive_id: str
    issuer: str
    title: str
    unit_ids: tuple[int, ...]
    deadline_ts: int
    created_ts: int
    created_by: str
    room_id: str | None = None
    message_event_id: str | None = None
    message_ts: int | None = None
    reminded_ts: int | None = None
    remind_requested: bool = False


@dataclass(frozen=True)
class Ack:
    """A recipient's acknowledgement: the event that made it, how, and when."""

    user_id: str
    event_id: str
    how: str
    ts: int


def _directive(row: sqlite3.Row) -> Directive:
    return Directive(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6], row[7], row[8],
                     row[9], row[10], bool(row[11]))


class DirectiveStore:
    """Typed SQL for the directive tables; writes are group-committed with their audit entries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, directive: Directive, also: Sequence[Also] = ()) -> None:
        """Store a new directive (its room still to be made) and `also` in one transaction."""
        d = directive
        await self.db.write(with_also(lambda c: c.execute(
            f"INSERT INTO directives ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, 0)",
            (d.directive_id, d.issuer, d.title, json.dumps(list(d.unit_ids)), d.deadline_ts, d.created_ts,
             d.created_by)), also))

    def all(self) -> list[Directive]:
        """Every directive, newest first (directives are few: thousands at most)."""
        return [_directive(r) for r in self.db.read(f"SELECT {_COLUMNS} FROM directives ORDER BY created_ts DESC,"
                                                    " directive_id")]

    def get(self, directive_id: str) -> Directive | None:
        """The directive with this ID, if any."""
        r = self.db.read_one(f"SELECT {_COLUMNS} FROM directives WHERE directive_id = ?", (directive_id,))
        return _directive(r) if r else None

    def by_room(self, room_id: str) -> Directive | None:
        """The directive whose room this is, if any."""
        r = self.db.read_one(f"SELECT {_COLUMNS} FROM directives WHERE room_id = ?", (room_id,))
        return _directive(r) if r else None

    async def set_room(self, directive_id: str, room_id: str, also: Sequence[Also] = ()) -> None:
        """The server has made the directive's room."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE directives SET room_id = ? WHERE directive_id = ? AND room_id IS NULL",
            (room_id, directive_id)), also))

    async def set_reminded(self, directive_id: str, now_ms: int, also: Sequence[Also] = ()) -> None:
        """A reminder went out now; any reminder asked for from the CLI is done."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE directives SET reminded_ts = ?, remind_requested = 0 WHERE directive_id = ?",
            (now_ms, directive_id)), also))

    async def request_reminder(self, directive_id: str, also: Sequence[Also] = ()) -> None:
        """Ask the running server to send a reminder (the CLI can't append events)."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE directives SET remind_requested = 1 WHERE directive_id = ?", (directive_id,)), also))

    async def ensure_system_account(self, user_id: str, displayname: str, now_ms: int) -> bool:
        """Reserve the server's own account: deactivated, without a password, so nobody can log in as
        it, register it or find it. False if a person's account already holds that user ID."""

        def txn(conn: sqlite3.Connection) -> bool:
            conn.execute("INSERT OR IGNORE INTO users (user_id, password_hash, is_admin, deactivated, displayname,"
                         " created_ts) VALUES (?, NULL, 0, 1, ?, ?)", (user_id, displayname, now_ms))
            row = conn.execute("SELECT password_hash, is_admin, deactivated FROM users WHERE user_id = ?",
                               (user_id,)).fetchone()
            return bool(row[0] is None and not row[1] and row[2])

        return await self.db.write(txn)

    def acks(self, directive_id: str) -> dict[str, Ack]:
        """Who acknowledged, by user ID."""
        rows = self.db.read("SELECT user_id, event_id, how, ts FROM directive_acks WHERE directive_id = ?",
                            (directive_id,))
        return {r[0]: Ack(r[0], r[1], r[2], r[3]) for r in rows}

    def read_receipts(self, room_id: str, event_id: str) -> dict[str, int]:
        """Users whose public read receipt in the room is at `event_id` or later, with the receipt's time.

        Private receipts (m.read.private) are the reader's wish not to be seen reading: not counted.
        """
        rows = self.db.read(
            "SELECT r.user_id, max(r.ts) FROM receipts r JOIN events e ON e.event_id = r.event_id"
            " WHERE r.room_id = ? AND r.receipt_type = 'm.read'"
            " AND e.stream_ordering >= (SELECT stream_ordering FROM events WHERE event_id = ?)"
            " GROUP BY r.user_id", (room_id, event_id))
        return {r[0]: int(r[1]) for r in rows}


def record_message(room_id: str, issuer: str, event_id: str, ts: int,
                   audit: Callable[[sqlite3.Connection], object]) -> Also:
    """A write for the append path: the issuer's first message in the room becomes what is acknowledged."""

    def write(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE directives SET message_event_id = ?, message_ts = ?"
            " WHERE room_id = ? AND issuer = ? AND message_event_id IS NULL", (event_id, ts, room_id, issuer))
        if cur.rowcount:
            audit(conn)

    return write


def record_ack(room_id: str, user_id: str, relates_to: str, event_id: str, how: str, ts: int,
               audit: Callable[[sqlite3.Connection], object]) -> Also:
    """A write for the append path: a recipient's first reaction or reply to the directive's message."""

    def write(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "INSERT OR IGNORE INTO directive_acks (directive_id, user_id, event_id, how, ts)"
            " SELECT directive_id, ?, ?, ?, ? FROM directives"
            " WHERE room_id = ? AND message_event_id = ? AND issuer != ?",
            (user_id, event_id, how, ts, room_id, relates_to, user_id))
        if cur.rowcount:
            audit(conn)

    return write
