"""Users, devices, access tokens and registration tokens."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qasid.store.sqlite.engine import Also, Database, with_also, with_then


@dataclass(frozen=True)
class UserRow:
    user_id: str
    password_hash: str | None
    is_admin: bool
    deactivated: bool
    displayname: str | None
    avatar_url: str | None
    locked: bool = False  # suspended: every request but logout is refused with M_USER_LOCKED


@dataclass(frozen=True)
class SessionRow:
    user_id: str
    device_id: str
    is_admin: bool
    deactivated: bool
    locked: bool
    read_only: bool = False  # the spec's suspension: reads allowed, writes refused with M_USER_SUSPENDED


@dataclass(frozen=True)
class DeviceRow:
    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ip: str | None
    last_seen_ts: int | None


@dataclass(frozen=True)
class RegistrationTokenRow:
    token_hash: bytes  # SHA-256 of the token, which is never stored
    uses_allowed: int | None
    pending: int
    completed: int
    expiry_time: int | None


class AccountStore:
    """Typed persistence for accounts; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # users
    async def create_user(
        self, user_id: str, password_hash: str | None, is_admin: bool, now_ms: int,
        registration_token_hash: bytes | None = None, displayname: str | None = None, also: Sequence[Also] = (),
    ) -> bool:
        """Create the user; False if the ID is taken. Consumes a registration token (by hash) atomically;
        `also` runs in the same transaction when the user is created."""

        def txn(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                return False
            if registration_token_hash is not None and not _consume_token(conn, registration_token_hash, now_ms):
                raise TokenUnavailable()
            conn.execute(
                "INSERT INTO users (user_id, password_hash, is_admin, displayname, created_ts) VALUES (?, ?, ?, ?, ?)",
                (user_id, password_hash, int(is_admin), displayname, now_ms),
            )
            for write in also:
                write(conn)
            return True

        return await self.db.write(txn)

    async def get_user(self, user_id: str) -> UserRow | None:
        row = self.db.read_one(
            "SELECT user_id, password_hash, is_admin, deactivated, displayname, avatar_url, locked"
            " FROM users WHERE user_id = ?", (user_id,),
        )
        if row is None:
            return None
        return UserRow(row[0], row[1], bool(row[2]), bool(row[3]), row[4], row[5], bool(row[6]))

    async def set_password_hash(self, user_id: str, password_hash: str, also: Sequence[Also] = ()) -> None:
        """Replace the password hash; `also` in the same transaction."""
        await self.db.write(with_also(lambda c: c.execute(
            "UPDATE users SET password_hash = ? WHERE user_id = ?", (password_hash, user_id)), also))

    async def set_profile_field(self, user_id: str, field: str, value: str | None) -> None:
        assert field in ("displayname", "avatar_url")
        await self.db.write(lambda c: c.execute(
            f"UPDATE users SET {field} = ? WHERE user_id = ?", (value, user_id)))

    async def set_displayname_if_unset(self, user_id: str, name: str) -> None:
        """Give the account this display name unless it already has one."""
        await self.db.write(lambda c: c.execute(
            "UPDATE users SET displayname = ? WHERE user_id = ? AND displayname IS NULL", (name, user_id)))

    def eraser(self, user_id: str) -> Also:
        """The write that erases an account's own data (deactivation with erase: true), for its transaction:
        profile cleared, account data, filters and server-side key backup deleted."""

        def erase(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE users SET erased = 1, displayname = NULL, avatar_url = NULL WHERE user_id = ?",
                         (user_id,))
            for table in ("account_data", "filters", "room_key_backup_keys", "room_key_backup_versions"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

        return erase

    async def search_users(self, term: str, limit: int) -> list[UserRow]:
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.read(
            "SELECT user_id, password_hash, is_admin, deactivated, displayname, avatar_url FROM users"
            " WHERE deactivated = 0 AND (user_id LIKE ? ESCAPE '\\' OR displayname LIKE ? ESCAPE '\\')"
            " ORDER BY user_id LIMIT ?", (like, like, limit),
        )
        return [UserRow(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5]) for r in rows]

    # devices and tokens
    async def add_device_with_token(
        self, user_id: str, device_id: str, display_name: str | None, token_hash: bytes,
        ip: str, now_ms: int, also_if_new: Sequence[Also] = (), also: Sequence[Also] = (),
    ) -> bool:
        """Create (or reuse) the device and give it a new token; True if the device is new.

        A new device is recorded as a device-list change in the same transaction; `also_if_new` (when
        the device is new), then `also`, run in that transaction too."""

        def txn(conn: sqlite3.Connection) -> bool:
            existing = conn.execute(
                "SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?", (user_id, device_id)
            ).fetchone()
            if existing:
                # Logging in again as the same device replaces its old session.
                conn.execute(
                    "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", (user_id, device_id))
                if display_name is not None:
                    conn.execute(
                        "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?",
                        (display_name, user_id, device_id))
            else:
                conn.execute(
                    "INSERT INTO devices (user_id, device_id, display_name, last_seen_ip, last_seen_ts,"
                    " created_ts) VALUES (?, ?, ?, ?, ?, ?)",
                    (user_id, device_id, display_name, ip, now_ms, now_ms),
                )
                # A new device is a device-list change at once, before it uploads any keys:
                # other clients then know to query it (and that it has none yet).
                stream_id = self.db.next_id(conn, "device_list_changes", "stream_id")
                conn.execute(
                    "INSERT INTO device_list_changes (stream_id, user_id) VALUES (?, ?)", (stream_id, user_id))
            conn.execute(
                "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, device_id, now_ms),
            )
            for write in ([] if existing else list(also_if_new)) + list(also):
                write(conn)
            return not existing

        return await self.db.write(txn)

    async def lookup_session(self, token_hash: bytes) -> SessionRow | None:
        """The user and device behind a token hash, with the account's standing, in one read."""
        row = self.db.read_one(
            "SELECT t.user_id, t.device_id, u.is_admin, u.deactivated, u.locked, u.read_only FROM access_tokens t"
            " JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = ?", (token_hash,))
        return SessionRow(row[0], row[1], bool(row[2]), bool(row[3]), bool(row[4]), bool(row[5])) if row else None

    async def delete_token(self, token_hash: bytes) -> None:
        await self.db.write(lambda c: c.execute(
            "DELETE FROM access_tokens WHERE token_hash = ?", (token_hash,)))

    async def list_devices(self, user_id: str) -> list[DeviceRow]:
        rows = self.db.read(
            "SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts FROM devices"
            " WHERE user_id = ? ORDER BY device_id", (user_id,))
        return [DeviceRow(*r) for r in rows]

    async def get_device(self, user_id: str, device_id: str) -> DeviceRow | None:
        row = self.db.read_one(
            "SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts FROM devices"
            " WHERE user_id = ? AND device_id = ?", (user_id, device_id))
        return DeviceRow(*row) if row else None

    async def device_last_activity(self) -> list[tuple[str, str, int]]:
        """(user_id, device_id, last seen or else created ts) of every device."""
        rows = self.db.read("SELECT user_id, device_id, coalesce(last_seen_ts, created_ts) FROM devices")
        return [(r[0], r[1], r[2]) for r in rows]

    async def update_device_name(self, user_id: str, device_id: str, name: str | None) -> None:
        await self.db.write(lambda c: c.execute(
            "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?",
            (name, user_id, device_id)))

    async def touch_device(self, user_id: str, device_id: str, ip: str, now_ms: int) -> None:
        await self.db.write(lambda c: c.execute(
            "UPDATE devices SET last_seen_ip = ?, last_seen_ts = ? WHERE user_id = ? AND device_id = ?",
            (ip, now_ms, user_id, device_id)))

    async def delete_devices(
        self, user_id: str, device_ids: list[str], also_each: Callable[[str], Also] | None = None,
        also: Sequence[Also] = (), also_after: Callable[[list[str]], Sequence[Also]] | None = None,
    ) -> list[str]:
        """Delete devices with their tokens and E2EE keys, record a device-list change; returns those that existed.

        `also_each(device_id)` runs in the same transaction for each device deleted; `also` and
        `also_after(deleted)` once, if any was."""

        def txn(conn: sqlite3.Connection) -> list[str]:
            deleted = []
            for device_id in device_ids:
                cur = conn.execute(
                    "DELETE FROM devices WHERE user_id = ? AND device_id = ?", (user_id, device_id))
                for table in ("access_tokens", "device_keys", "one_time_keys", "fallback_keys", "to_device_inbox"):
                    conn.execute(f"DELETE FROM {table} WHERE user_id = ? AND device_id = ?", (user_id, device_id))
                if cur.rowcount:
                    deleted.append(device_id)
                    if also_each is not None:
                        also_each(device_id)(conn)
            if deleted:
                stream_id = self.db.next_id(conn, "device_list_changes", "stream_id")
                conn.execute(
                    "INSERT INTO device_list_changes (stream_id, user_id) VALUES (?, ?)", (stream_id, user_id))
            return deleted

        def then(deleted: list[str]) -> Sequence[Also]:
            if not deleted:
                return ()
            return [*also, *(also_after(deleted) if also_after is not None else ())]

        return await self.db.write(with_then(txn, then))

    async def delete_other_tokens(self, user_id: str, keep_device_id: str | None) -> None:
        await self.db.write(lambda c: c.execute(
            "DELETE FROM access_tokens WHERE user_id = ? AND device_id IS NOT ?", (user_id, keep_device_id)))

    # registration tokens
    async def create_registration_token(
        self, token_hash: bytes, uses_allowed: int | None, expiry_time: int | None, now_ms: int,
        also: Sequence[Also] = (),
    ) -> bool:
        """A new registration token (False if it exists); `also` runs in the same transaction when created."""
        def txn(conn: sqlite3.Connection) -> bool:
            # OR IGNORE and a row count, not a caught IntegrityError: on PostgreSQL an error
            # spoils the whole transaction, and with it the batch's other writes.
            created = conn.execute(
                "INSERT OR IGNORE INTO registration_tokens (token_hash, uses_allowed, expiry_time, created_ts)"
                " VALUES (?, ?, ?, ?)", (token_hash, uses_allowed, expiry_time, now_ms))
            if created.rowcount != 1:
                return False
            for write in also:
                write(conn)
            return True

        return await self.db.write(txn)

    async def get_registration_token(self, token_hash: bytes) -> RegistrationTokenRow | None:
        row = self.db.read_one(
            "SELECT token_hash, uses_allowed, pending, completed, expiry_time FROM registration_tokens"
            " WHERE token_hash = ?", (token_hash,))
        return RegistrationTokenRow(*row) if row else None

    async def registration_token_hashes_by_prefix(self, prefix: bytes) -> list[bytes]:
        """Hashes starting with `prefix`: how a token shown only by its ID is found again."""
        rows = self.db.read(
            "SELECT token_hash FROM registration_tokens WHERE substr(token_hash, 1, ?) = ?", (len(prefix), prefix))
        return [r[0] for r in rows]

    async def list_registration_tokens(self) -> list[RegistrationTokenRow]:
        rows = self.db.read(
            "SELECT token_hash, uses_allowed, pending, completed, expiry_time FROM registration_tokens"
            " ORDER BY created_ts")
        return [RegistrationTokenRow(*r) for r in rows]

    async def delete_registration_token(self, token_hash: bytes, also: Sequence[Also] = ()) -> bool:
        """Delete the token (False if there was none); `also` runs in the same transaction when deleted."""
        def txn(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute(
                "DELETE FROM registration_tokens WHERE token_hash = ?", (token_hash,)).rowcount > 0
            for write in also if deleted else ():
                write(conn)
            return deleted

        return await self.db.write(txn)


class TokenUnavailable(Exception):
    """The registration token was used up or expired between validation and redemption."""


def _consume_token(conn: sqlite3.Connection, token_hash: bytes, now_ms: int) -> bool:
    row: Any = conn.execute(
        "SELECT uses_allowed, completed, expiry_time FROM registration_tokens WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    if row is None:
        return False
    uses_allowed, completed, expiry_time = row
    if expiry_time is not None and expiry_time <= now_ms:
        return False
    if uses_allowed is not None and completed >= uses_allowed:
        return False
    conn.execute("UPDATE registration_tokens SET completed = completed + 1 WHERE token_hash = ?", (token_hash,))
    return True
