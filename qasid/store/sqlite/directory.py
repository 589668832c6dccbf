"""Persistence of directory sign-in: which accounts the government directory vouches for."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from qasid.store.sqlite.engine import Also, Database, with_also


@dataclass(frozen=True)
class DirectoryAccount:
    """An account made by (or linked to) a directory entry."""

    user_id: str
    dn: str
    suspended_by_directory: bool


class DirectoryStore:
    """Typed SQL for directory_accounts; writes touch users.locked in the same transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def account(self, user_id: str) -> DirectoryAccount | None:
        """The directory link of this account, if it has one."""
        r = self.db.read_one("SELECT user_id, dn, suspended_by_directory FROM directory_accounts WHERE user_id = ?",
                             (user_id,))
        return DirectoryAccount(r[0], r[1], bool(r[2])) if r else None

    def active_accounts(self) -> list[DirectoryAccount]:
        """Every directory account not offboarded, by user ID (what the periodic sync checks)."""
        rows = self.db.read(
            "SELECT d.user_id, d.dn, d.suspended_by_directory FROM directory_accounts d"
            " JOIN users u ON u.user_id = d.user_id WHERE u.deactivated = 0 ORDER BY d.user_id")
        return [DirectoryAccount(r[0], r[1], bool(r[2])) for r in rows]

    async def create_account(
        self, user_id: str, dn: str, unit_id: int, designation: str, displayname: str, now_ms: int,
        also: Sequence[Also] = (),
    ) -> bool:
        """The account (no password hash), its placement and its directory link, with `also`; False if taken."""

        def txn(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                return False
            conn.execute("INSERT INTO users (user_id, password_hash, is_admin, displayname, created_ts)"
                         " VALUES (?, NULL, 0, ?, ?)", (user_id, displayname, now_ms))
            conn.execute("INSERT INTO officials (user_id, unit_id, designation, created_ts) VALUES (?, ?, ?, ?)",
                         (user_id, unit_id, designation, now_ms))
            conn.execute("INSERT INTO directory_accounts (user_id, dn, created_ts, checked_ts) VALUES (?, ?, ?, ?)",
                         (user_id, dn, now_ms, now_ms))
            return True

        return await self.db.write(with_also(txn, also, when=bool))

    async def set_suspended(self, user_id: str, suspended: bool, now_ms: int, also: Sequence[Also] = ()) -> bool:
        """Suspend for the directory, or lift a suspension the directory made; `also` if anything changed.

        Suspending leaves alone an account already suspended (by an admin), and lifting one the
        directory did not suspend: an admin's suspension is the admin's to lift.
        """

        def txn(conn: sqlite3.Connection) -> bool:
            if suspended:  # an account already suspended (by an admin) stays the admin's to lift
                changed = conn.execute("UPDATE users SET locked = 1 WHERE user_id = ? AND locked = 0",
                                       (user_id,)).rowcount
                if changed:
                    conn.execute("UPDATE directory_accounts SET suspended_by_directory = 1, checked_ts = ?"
                                 " WHERE user_id = ?", (now_ms, user_id))
            else:
                changed = conn.execute(
                    "UPDATE directory_accounts SET suspended_by_directory = 0, checked_ts = ?"
                    " WHERE user_id = ? AND suspended_by_directory = 1", (now_ms, user_id)).rowcount
                if changed:
                    conn.execute("UPDATE users SET locked = 0 WHERE user_id = ?", (user_id,))
            return bool(changed)

        return await self.db.write(with_also(txn, also, when=bool))

    async def mark_checked(self, user_id: str, dn: str, now_ms: int) -> None:
        """The entry was seen, enabled, at this DN."""
        await self.db.write(lambda c: c.execute(
            "UPDATE directory_accounts SET dn = ?, checked_ts = ? WHERE user_id = ?", (dn, now_ms, user_id)))
