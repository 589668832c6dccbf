"""Persistence of the admin console: sessions (by the hash of their ID) and each admin's language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qasid.store.sqlite.engine import Also, Database, with_also


@dataclass(frozen=True)
class ConsoleSessionRow:
    """One signed-in console session."""

    user_id: str
    csrf_secret: str
    created_ts: int
    last_seen_ts: int


class ConsoleStore:
    """Typed SQL for the console tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_session(
        self, session_hash: bytes, user_id: str, csrf_secret: str, now_ms: int, also: Sequence[Also] = (),
    ) -> None:
        """Store a new session; `also` (its audit entry) in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "INSERT INTO console_sessions (session_hash, user_id, csrf_secret, created_ts, last_seen_ts)"
            " VALUES (?, ?, ?, ?, ?)", (session_hash, user_id, csrf_secret, now_ms, now_ms)), also))

    def session(self, session_hash: bytes) -> ConsoleSessionRow | None:
        """The session with this hash, if any."""
        r = self.db.read_one(
            "SELECT user_id, csrf_secret, created_ts, last_seen_ts FROM console_sessions WHERE session_hash = ?",
            (session_hash,))
        return ConsoleSessionRow(r[0], r[1], r[2], r[3]) if r else None

    async def touch_session(self, session_hash: bytes, now_ms: int) -> None:
        """Record activity on a session (its idle timeout counts from here)."""
        await self.db.write(lambda c: c.execute(
            "UPDATE console_sessions SET last_seen_ts = ? WHERE session_hash = ?", (now_ms, session_hash)))

    async def delete_session(self, session_hash: bytes, also: Sequence[Also] = ()) -> None:
        """End one session; `also` (its audit entry) in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "DELETE FROM console_sessions WHERE session_hash = ?", (session_hash,)), also))

    async def delete_idle_sessions(self, idle_before_ms: int) -> None:
        """End every session idle since before `idle_before_ms`."""
        await self.db.write(lambda c: c.execute(
            "DELETE FROM console_sessions WHERE last_seen_ts < ?", (idle_before_ms,)))

    def language(self, user_id: str) -> str | None:
        """The language the admin chose, if they chose one."""
        r = self.db.read_one("SELECT language FROM console_admins WHERE user_id = ?", (user_id,))
        return str(r[0]) if r else None

    async def set_language(self, user_id: str, language: str) -> None:
        """Remember the admin's language."""
        await self.db.write(lambda c: c.execute(
            "INSERT INTO console_admins (user_id, language) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET language = excluded.language", (user_id, language)))
