"""Calls: OpenID tokens for the call service, and delayed events (MSC4140)."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from qasid.core import jsonutil
from qasid.store.sqlite.engine import Database


class DelayedEventRow(NamedTuple):
    """One delayed event as stored."""

    delay_id: str
    user_id: str
    device_id: str
    room_id: str
    event_type: str
    state_key: str | None
    content: dict[str, Any]
    delay_ms: int
    running_since: int
    send_ts: int
    status: str
    event_id: str | None
    error: str | None


_COLUMNS = ("delay_id, user_id, device_id, room_id, event_type, state_key, content, delay_ms, running_since,"
            " send_ts, status, event_id, error")


def _row(r: Any) -> DelayedEventRow:
    return DelayedEventRow(r[0], r[1], r[2], r[3], r[4], r[5], jsonutil.loads_stored(r[6]), r[7], r[8], r[9],
                           r[10], r[11], r[12])


class CallStore:
    """Typed persistence for OpenID tokens and delayed events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- OpenID tokens ----------------------------------------------------------------------

    async def add_openid_token(self, token_hash: bytes, user_id: str, expires_ts: int, now: int) -> None:
        """Store a new token (by its hash), dropping the expired ones on the way."""
        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM openid_tokens WHERE expires_ts <= ?", (now,))
            conn.execute("INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (?, ?, ?)",
                         (token_hash, user_id, expires_ts))
        await self.db.write(txn)

    async def openid_user(self, token_hash: bytes, now: int) -> str | None:
        """The user a token that has not expired was issued to."""
        row = self.db.read_one("SELECT user_id FROM openid_tokens WHERE token_hash = ? AND expires_ts > ?",
                               (token_hash, now))
        return str(row[0]) if row else None

    # --- delayed events ---------------------------------------------------------------------

    async def add_delayed_event(
        self, row: DelayedEventRow, limit: int, txn_id: str | None = None,
    ) -> tuple[str | None, int | None]:
        """Schedule `row`: (the delay_id the same txn_id was given before, None) for a retry; (None, the
        earliest of their send times) when its owner already has `limit` scheduled; else (None, None)."""
        def txn(conn: sqlite3.Connection) -> tuple[str | None, int | None]:
            if txn_id is not None:
                earlier = conn.execute(
                    "SELECT delay_id FROM delayed_events WHERE user_id = ? AND device_id = ? AND txn_id = ?",
                    (row.user_id, row.device_id, txn_id)).fetchone()
                if earlier is not None:
                    return str(earlier[0]), None
            count, earliest = conn.execute(
                "SELECT count(*), min(send_ts) FROM delayed_events WHERE user_id = ? AND status = 'scheduled'",
                (row.user_id,)).fetchone()
            if count >= limit:
                return None, int(earliest)
            conn.execute(
                f"INSERT INTO delayed_events ({_COLUMNS}, txn_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row[:6], jsonutil.dumps(row.content), *row[7:], txn_id))
            return None, None
        return await self.db.write(txn)

    async def delayed_event(self, delay_id: str) -> DelayedEventRow | None:
        """One delayed event, scheduled or finalised."""
        found = self.db.read_one(f"SELECT {_COLUMNS} FROM delayed_events WHERE delay_id = ?", (delay_id,))
        return _row(found) if found else None

    async def scheduled_for_user(self, user_id: str) -> list[DelayedEventRow]:
        """The user's scheduled delayed events, the next to be sent first."""
        rows = self.db.read(f"SELECT {_COLUMNS} FROM delayed_events WHERE user_id = ? AND status = 'scheduled'"
                            " ORDER BY send_ts, delay_id", (user_id,))
        return [_row(r) for r in rows]

    async def due(self, now: int, limit: int = 100) -> list[DelayedEventRow]:
        """Scheduled delayed events whose send time has come."""
        rows = self.db.read(f"SELECT {_COLUMNS} FROM delayed_events WHERE status = 'scheduled' AND send_ts <= ?"
                            " ORDER BY send_ts LIMIT ?", (now, limit))
        return [_row(r) for r in rows]

    def next_send_ts(self) -> int | None:
        """When the next scheduled delayed event is due."""
        row = self.db.read_one("SELECT min(send_ts) FROM delayed_events WHERE status = 'scheduled'")
        return int(row[0]) if row and row[0] is not None else None

    async def restart(self, delay_id: str, now: int) -> bool:
        """Run a scheduled event's delay again from `now`; False if it is not scheduled."""
        def txn(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE delayed_events SET running_since = ?, send_ts = ? + delay_ms"
                " WHERE delay_id = ? AND status = 'scheduled'", (now, now, delay_id)).rowcount == 1
        return await self.db.write(txn)

    async def finalise(self, delay_id: str, status: str, now: int, event_id: str | None = None,
                       error: str | None = None) -> bool:
        """Mark a scheduled event sent or cancelled; False if it was already finalised."""
        def txn(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE delayed_events SET status = ?, event_id = ?, error = ?, finalised_ts = ?"
                " WHERE delay_id = ? AND status = 'scheduled'", (status, event_id, error, now, delay_id)).rowcount == 1
        return await self.db.write(txn)

    async def forget_finalised(self, before: int) -> None:
        """Drop finalised delayed events finalised before `before`."""
        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM delayed_events WHERE status != 'scheduled' AND finalised_ts < ?", (before,))
        await self.db.write(txn)
