"""Persistence of the government layer: units, officials, admin roles, enrollment, policy, offboarding."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qasid.store.sqlite.engine import Also, Database, with_also, with_then


@dataclass(frozen=True)
class Unit:
    """One node of the organisation tree."""

    unit_id: int
    parent_id: int | None
    code: str
    name: str


@dataclass(frozen=True)
class Official:
    """An account's place in the organisation."""

    user_id: str
    unit_id: int
    designation: str
    # The classification level the official is cleared to (None: none, the lowest).
    clearance: str | None = None


@dataclass(frozen=True)
class EnrollmentToken:
    """A registration token bound to a unit, with its uses and expiry from core's table."""

    token_hash: bytes  # SHA-256 of the token, which is never stored
    unit_id: int
    person_name: str | None
    designation: str | None
    issued_by: str
    uses_allowed: int | None
    completed: int
    expiry_time: int | None


class ImportRaced(Exception):
    """An all-or-nothing import found usernames taken after its checks: nothing was created."""

    def __init__(self, user_ids: list[str]) -> None:
        super().__init__(", ".join(user_ids))
        self.user_ids = user_ids


class GovStore:
    """Typed SQL for the gov tables; reads see committed data, writes are group-committed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- units -----------------------------------------------------------------------------

    def units(self) -> dict[int, Unit]:
        """Every unit by ID (the tree is small: thousands of units at most)."""
        rows = self.db.read("SELECT unit_id, parent_id, code, name FROM units")
        return {r[0]: Unit(r[0], r[1], r[2], r[3]) for r in rows}

    def unit_by_code(self, code: str) -> Unit | None:
        """The unit with this code, if any."""
        r = self.db.read_one("SELECT unit_id, parent_id, code, name FROM units WHERE code = ?", (code,))
        return Unit(r[0], r[1], r[2], r[3]) if r else None

    async def create_unit(
        self, parent_id: int | None, code: str, name: str, now_ms: int,
        then: Callable[[int], Sequence[Also]] = lambda unit_id: (),
    ) -> int | None:
        """The new unit's ID, or None if the code is taken; `then(unit_id)` in the same transaction."""

        def txn(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "INSERT OR IGNORE INTO units (parent_id, code, name, created_ts) VALUES (?, ?, ?, ?) RETURNING unit_id",
                (parent_id, code, name, now_ms)).fetchone()
            return None if row is None else int(row[0])

        return await self.db.write(with_then(txn, lambda unit_id: () if unit_id is None else then(unit_id)))

    async def update_unit(
        self, unit_id: int, name: str | None, parent_id: int | None, move: bool, also: Sequence[Also] = (),
    ) -> None:
        """Rename a unit and/or move it under another parent; `also` in the same transaction."""

        def txn(conn: sqlite3.Connection) -> None:
            if name is not None:
                conn.execute("UPDATE units SET name = ? WHERE unit_id = ?", (name, unit_id))
            if move:
                conn.execute("UPDATE units SET parent_id = ? WHERE unit_id = ?", (parent_id, unit_id))

        await self.db.write(with_also(txn, also))

    # --- officials and admin roles ---------------------------------------------------------

    def official(self, user_id: str) -> Official | None:
        """The official's unit and designation, if the account has one."""
        r = self.db.read_one(
            "SELECT user_id, unit_id, designation, clearance FROM officials WHERE user_id = ?", (user_id,))
        return Official(r[0], r[1], r[2], r[3]) if r else None

    def officials_in(self, unit_ids: list[int]) -> list[Official]:
        """Officials of the given units, by user ID."""
        marks = ",".join("?" * len(unit_ids))
        rows = self.db.read(
            f"SELECT user_id, unit_id, designation, clearance FROM officials WHERE unit_id IN ({marks})"
            " ORDER BY user_id", unit_ids) if unit_ids else []
        return [Official(r[0], r[1], r[2], r[3]) for r in rows]

    def active_accounts_outside_tree(self) -> int:
        """How many accounts that are not deactivated belong to no unit."""
        r = self.db.read_one("SELECT COUNT(*) FROM users u WHERE u.deactivated = 0"
                             " AND NOT EXISTS (SELECT 1 FROM officials o WHERE o.user_id = u.user_id)")
        return int(r[0]) if r else 0

    def account_states(self, user_ids: list[str]) -> dict[str, str]:
        """Each account's state: active, suspended or offboarded (deactivated, whether or not locked)."""
        states: dict[str, str] = {}
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start:start + 500]
            for user_id, locked, deactivated in self.db.read(
                    f"SELECT user_id, locked, deactivated FROM users WHERE user_id IN ({','.join('?' * len(chunk))})",
                    chunk):
                states[user_id] = "offboarded" if deactivated else "suspended" if locked else "active"
        return states

    async def set_official(
        self, user_id: str, unit_id: int, designation: str, now_ms: int, also: Sequence[Also] = (),
    ) -> None:
        """Place an account in a unit with a designation (replacing any earlier placement); `also` with it."""
        await self.db.write(with_also(lambda c: c.execute(
            "INSERT INTO officials (user_id, unit_id, designation, created_ts) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET unit_id = excluded.unit_id,"
            " designation = excluded.designation", (user_id, unit_id, designation, now_ms)), also))

    async def create_official(
        self, user_id: str, password_hash: str | None, unit_id: int, designation: str,
        displayname: str | None, now_ms: int, also: Sequence[Also] = (),
    ) -> bool:
        """Create the account and its placement in one transaction, with `also`; False if the user ID is taken."""

        def txn(conn: sqlite3.Connection) -> bool:
            return _insert_official(conn, user_id, password_hash, unit_id, designation, displayname, now_ms)

        return await self.db.write(with_also(txn, also, when=bool))

    async def import_officials(
        self, rows: list[tuple[str, int, str, str | None]], now_ms: int, all_or_nothing: bool = False,
        then: Callable[[list[str]], Sequence[Also]] = lambda made: (),
    ) -> list[str]:
        """Create (user_id, unit_id, designation, displayname) accounts without passwords, all at once; returns those created.

        With all_or_nothing, a username taken meanwhile creates none of them (ImportRaced).
        `then(created user IDs)` runs in the same transaction.
        """

        def txn(conn: sqlite3.Connection) -> list[str]:
            made = [user_id for user_id, unit_id, designation, name in rows
                    if _insert_official(conn, user_id, None, unit_id, designation, name, now_ms)]
            if all_or_nothing and len(made) < len(rows):
                raise ImportRaced(sorted({row[0] for row in rows} - set(made)))  # rolls the whole job back
            return made

        return await self.db.write(with_then(txn, then))

    async def set_displayname_if_unset(self, user_id: str, name: str) -> None:
        """An enrollment token's named person becomes the display name, unless the client chose one."""
        await self.db.write(lambda c: c.execute(
            "UPDATE users SET displayname = ? WHERE user_id = ? AND displayname IS NULL", (name, user_id)))

    def admin_role_units(self, user_id: str) -> list[int]:
        """Units whose subtrees this user administers."""
        return [r[0] for r in self.db.read("SELECT unit_id FROM admin_roles WHERE user_id = ?", (user_id,))]

    def admin_roles(self) -> dict[str, list[int]]:
        """Every unit admin and the units they administer (a short table: admins are few)."""
        roles: dict[str, list[int]] = {}
        for user_id, unit_id in self.db.read("SELECT user_id, unit_id FROM admin_roles"):
            roles.setdefault(user_id, []).append(unit_id)
        return roles

    def server_admins(self) -> set[str]:
        """The national admins' user IDs."""
        return {r[0] for r in self.db.read("SELECT user_id FROM users WHERE is_admin = 1")}

    async def set_admin_role(self, user_id: str, unit_id: int, granted: bool, also: Sequence[Also] = ()) -> None:
        """Grant or revoke a unit admin role; `also` in the same transaction."""
        sql = ("INSERT OR IGNORE INTO admin_roles (user_id, unit_id) VALUES (?, ?)" if granted
               else "DELETE FROM admin_roles WHERE user_id = ? AND unit_id = ?")
        await self.db.write(with_also(lambda c: c.execute(sql, (user_id, unit_id)), also))

    async def set_locked(self, user_id: str, locked: bool, also: Sequence[Also] = ()) -> None:
        """Suspend (or lift the suspension of) an account; `also` in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE users SET locked = ? WHERE user_id = ?", (int(locked), user_id)), also))

    async def set_read_only(self, user_id: str, read_only: bool, also: Sequence[Also] = ()) -> None:
        """Make an account read-only (the spec's suspension) or lift it; `also` in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE users SET read_only = ? WHERE user_id = ?", (int(read_only), user_id)), also))

    def is_read_only(self, user_id: str) -> bool:
        """True if the account may read but not write (the spec's suspension)."""
        r = self.db.read_one("SELECT read_only FROM users WHERE user_id = ?", (user_id,))
        return bool(r and r[0])

    def is_locked(self, user_id: str) -> bool:
        """True if the account is suspended."""
        r = self.db.read_one("SELECT locked FROM users WHERE user_id = ?", (user_id,))
        return bool(r and r[0])

    # --- enrollment tokens -----------------------------------------------------------------

    async def create_enrollment_token(
        self, token_hash: bytes, unit_id: int, person_name: str | None, designation: str | None,
        issued_by: str, uses_allowed: int, expiry_time: int, now_ms: int, also: Sequence[Also] = (),
    ) -> None:
        """Core's registration token and its unit binding, and `also`, in one transaction (by the token's hash)."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO registration_tokens (token_hash, uses_allowed, expiry_time, created_ts)"
                " VALUES (?, ?, ?, ?)", (token_hash, uses_allowed, expiry_time, now_ms))
            conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, unit_id, person_name, designation, issued_by,"
                " created_ts) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, unit_id, person_name, designation, issued_by, now_ms))

        await self.db.write(with_also(txn, also))

    def enrollment_tokens(self, token_hash: bytes | None = None, *, hash_prefix: bool = False) -> list[EnrollmentToken]:
        """Enrollment tokens (the one with this hash, those whose hash starts so, or all), newest first."""
        sql = ("SELECT e.token_hash, e.unit_id, e.person_name, e.designation, e.issued_by, r.uses_allowed,"
               " r.completed, r.expiry_time FROM enrollment_tokens e"
               " JOIN registration_tokens r ON r.token_hash = e.token_hash")
        if token_hash is None:
            rows = self.db.read(sql + " ORDER BY e.created_ts DESC")
        elif hash_prefix:
            rows = self.db.read(sql + " WHERE substr(e.token_hash, 1, ?) = ? ORDER BY e.created_ts DESC",
                                (len(token_hash), token_hash))
        else:
            rows = self.db.read(sql + " WHERE e.token_hash = ?", (token_hash,))
        return [EnrollmentToken(*r) for r in rows]

    async def delete_enrollment_token(self, token_hash: bytes, also: Sequence[Also] = ()) -> None:
        """Revoke: neither the binding nor core's registration token survives; `also` in the same transaction."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM enrollment_tokens WHERE token_hash = ?", (token_hash,))
            conn.execute("DELETE FROM registration_tokens WHERE token_hash = ?", (token_hash,))

        await self.db.write(with_also(txn, also))

    # --- policy ----------------------------------------------------------------------------

    def unit_policies(self) -> dict[int, dict[str, Any]]:
        """The keys set on each unit."""
        return {r[0]: json.loads(r[1]) for r in self.db.read("SELECT unit_id, policy_json FROM unit_policies")}

    async def set_unit_policy(self, unit_id: int, values: dict[str, Any], also: Sequence[Also] = ()) -> None:
        """Replace the keys set on one unit (an empty dict inherits everything); `also` in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "INSERT INTO unit_policies (unit_id, policy_json) VALUES (?, ?) ON CONFLICT (unit_id)"
            " DO UPDATE SET policy_json = excluded.policy_json", (unit_id, json.dumps(values, sort_keys=True))), also))

    async def set_room_retention(self, room_id: str, days: int) -> None:
        """Fix a room's retention at creation."""
        await self.db.write(lambda c: c.execute(
            "INSERT OR REPLACE INTO room_retention (room_id, retention_days) VALUES (?, ?)", (room_id, days)))

    def room_retentions(self) -> list[tuple[str, int]]:
        """(room_id, days) of every room with a retention limit."""
        return [(r[0], r[1]) for r in self.db.read("SELECT room_id, retention_days FROM room_retention")]

    # --- clearance -------------------------------------------------------------------------

    async def set_clearance(
        self, user_id: str, level: str | None, queue_by: str | None, now_ms: int, also: Sequence[Also] = (),
    ) -> None:
        """Set an official's clearance; with `queue_by`, queue the removal from rooms above it for the server."""

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE officials SET clearance = ? WHERE user_id = ?", (level, user_id))
            if queue_by is not None:
                conn.execute("INSERT OR REPLACE INTO pending_clearance_checks (user_id, actor, created_ts)"
                             " VALUES (?, ?, ?)", (user_id, queue_by, now_ms))

        await self.db.write(with_also(txn, also))

    def clearances(self) -> dict[str, str]:
        """Every official's clearance that is set (others hold none)."""
        return {r[0]: r[1] for r in self.db.read("SELECT user_id, clearance FROM officials WHERE clearance IS NOT NULL")}

    def pending_clearance_checks(self) -> list[tuple[str, str]]:
        """(user_id, actor) of clearances lowered from the CLI whose room removals are still to be done."""
        return [(r[0], r[1]) for r in self.db.read("SELECT user_id, actor FROM pending_clearance_checks")]

    async def finish_clearance_check(self, user_id: str) -> None:
        """The official is out of every room above their clearance."""
        await self.db.write(lambda c: c.execute("DELETE FROM pending_clearance_checks WHERE user_id = ?", (user_id,)))

    # --- offboarding -----------------------------------------------------------------------

    def pending_offboardings(self) -> list[tuple[str, str]]:
        """(user_id, actor) of offboardings whose room leaves are still to be done."""
        return [(r[0], r[1]) for r in self.db.read("SELECT user_id, actor FROM pending_offboardings")]

    def offboarding_pending(self, user_id: str) -> bool:
        """True while the official's room leaves are still to be done."""
        return self.db.read_one("SELECT 1 FROM pending_offboardings WHERE user_id = ?", (user_id,)) is not None

    async def finish_offboarding(self, user_id: str, also: Sequence[Also] = ()) -> bool:
        """The official has left every room; `also` in the same transaction, if the offboarding was pending."""
        return await self.db.write(with_also(
            lambda c: c.execute("DELETE FROM pending_offboardings WHERE user_id = ?", (user_id,)).rowcount > 0,
            also, when=bool))

    async def deactivate(self, user_id: str, actor: str, now_ms: int, also: Sequence[Also] = ()) -> bool:
        """Deactivate for good: no password, no tokens, out of the directory; queues the room leaves.

        `also` runs in the same transaction when the account was active."""

        def txn(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE users SET deactivated = 1, password_hash = NULL, locked = 0"
                " WHERE user_id = ? AND deactivated = 0", (user_id,))
            if not cur.rowcount:
                return False
            conn.execute("DELETE FROM access_tokens WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM admin_roles WHERE user_id = ?", (user_id,))
            conn.execute("INSERT OR REPLACE INTO pending_offboardings (user_id, actor, created_ts)"
                         " VALUES (?, ?, ?)", (user_id, actor, now_ms))
            return True

        return await self.db.write(with_also(txn, also, when=bool))


def place_official(
    user_id: str, unit_id: int, designation: str, person_name: str | None, now_ms: int,
) -> Callable[[sqlite3.Connection], None]:
    """A new account's placement (and its named person as display name, unless one is set), as a write
    to run inside the account's own transaction."""

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO officials (user_id, unit_id, designation, created_ts) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET unit_id = excluded.unit_id,"
            " designation = excluded.designation", (user_id, unit_id, designation, now_ms))
        if person_name:
            conn.execute("UPDATE users SET displayname = ? WHERE user_id = ? AND displayname IS NULL",
                         (person_name, user_id))

    return write


def _insert_official(
    conn: sqlite3.Connection, user_id: str, password_hash: str | None, unit_id: int, designation: str,
    displayname: str | None, now_ms: int,
) -> bool:
    if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
        return False
    conn.execute(
        "INSERT INTO users (user_id, password_hash, is_admin, displayname, created_ts) VALUES (?, ?, 0, ?, ?)",
        (user_id, password_hash, displayname, now_ms))
    conn.execute(
        "INSERT INTO officials (user_id, unit_id, designation, created_ts) VALUES (?, ?, ?, ?)",
        (user_id, unit_id, designation, now_ms))
    return True
