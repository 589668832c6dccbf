"""Server-side key backup: versions and the encrypted room keys clients store in them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from qasid.store.sqlite.engine import Database


class BackupVersionMismatch(Exception):
    """Keys were written to a backup version that is not the current one (None: no backup at all)."""

    def __init__(self, current_version: int | None) -> None:
        super().__init__(current_version)
        self.current_version = current_version


@dataclass(frozen=True)
class BackupVersionRow:
    version: int
    algorithm: str
    auth_data: dict[str, Any]
    etag: int
    count: int


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _loads(raw: bytes) -> Any:
    return orjson.loads(raw)


class KeyBackupStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_backup_version(self, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> int:
        """A new backup version, numbered after every earlier one (deleted ones included)."""

        def txn(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT coalesce(max(version), 0) FROM room_key_backup_versions WHERE user_id = ?",
                (user_id,)).fetchone()
            version = int(row[0]) + 1
            conn.execute(
                "INSERT INTO room_key_backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)",
                (user_id, version, algorithm, _dumps(auth_data)))
            return version

        return await self.db.write(txn)

    async def backup_version(self, user_id: str, version: int | None) -> BackupVersionRow | None:
        """A live backup version, or the latest live one when `version` is None."""
        sql = ("SELECT v.version, v.algorithm, v.auth_data, v.etag, (SELECT count(*) FROM room_key_backup_keys k"
               " WHERE k.user_id = v.user_id AND k.version = v.version) FROM room_key_backup_versions v"
               " WHERE v.user_id = ? AND v.deleted = 0")
        if version is None:
            row = self.db.read_one(sql + " ORDER BY v.version DESC LIMIT 1", (user_id,))
        else:
            row = self.db.read_one(sql + " AND v.version = ?", (user_id, version))
        if row is None:
            return None
        return BackupVersionRow(int(row[0]), row[1], _loads(row[2]), int(row[3]), int(row[4]))

    async def update_backup_version(self, user_id: str, version: int, auth_data: dict[str, Any]) -> bool:
        """Replace a live version's auth_data; False if there is no such live version."""

        def txn(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE room_key_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0",
                (_dumps(auth_data), user_id, version)).rowcount > 0

        return await self.db.write(txn)

    async def delete_backup_version(self, user_id: str, version: int) -> bool:
        """Mark a version deleted and drop its keys; False if it never existed."""

        def txn(conn: sqlite3.Connection) -> bool:
            found = conn.execute(
                "UPDATE room_key_backup_versions SET deleted = 1 WHERE user_id = ? AND version = ?",
                (user_id, version)).rowcount > 0
            conn.execute("DELETE FROM room_key_backup_keys WHERE user_id = ? AND version = ?", (user_id, version))
            return found

        return await self.db.write(txn)

    async def put_room_keys(
        self, user_id: str, version: int, sessions: list[tuple[str, str, dict[str, Any]]],
        keep_existing: Callable[[dict[str, Any], dict[str, Any]], bool],
    ) -> tuple[int, int]:
        """Store session keys in the current version; `keep_existing(old, new)` decides conflicts.

        Returns (count, etag). Raises BackupVersionMismatch if `version` is not the current one.
        """

        def txn(conn: sqlite3.Connection) -> tuple[int, int]:
            current = conn.execute(
                "SELECT max(version) FROM room_key_backup_versions WHERE user_id = ? AND deleted = 0",
                (user_id,)).fetchone()[0]
            if current != version:
                raise BackupVersionMismatch(current)
            changed = False
            for room_id, session_id, key_data in sessions:
                key = (user_id, version, room_id, session_id)
                row = conn.execute(
                    "SELECT key_data FROM room_key_backup_keys WHERE user_id = ? AND version = ? AND room_id = ?"
                    " AND session_id = ?", key).fetchone()
                if row is not None and keep_existing(_loads(row[0]), key_data):
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO room_key_backup_keys (user_id, version, room_id, session_id, key_data)"
                    " VALUES (?, ?, ?, ?, ?)", (*key, _dumps(key_data)))
                changed = True
            return self._bump_etag(conn, user_id, version, changed)

        return await self.db.write(txn)

    async def room_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(room_id, session_id, key_data) of a version, optionally narrowed to a room or a session."""
        where, params = _keys_where(user_id, version, room_id, session_id)
        rows = self.db.read(
            f"SELECT room_id, session_id, key_data FROM room_key_backup_keys WHERE {where}"
            " ORDER BY room_id, session_id", params)
        return [(r[0], r[1], _loads(r[2])) for r in rows]

    async def delete_room_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None,
    ) -> tuple[int, int] | None:
        """Delete keys of a live version (all, a room's, or one session); (count, etag), None if no such version."""

        def txn(conn: sqlite3.Connection) -> tuple[int, int] | None:
            if not conn.execute(
                "SELECT 1 FROM room_key_backup_versions WHERE user_id = ? AND version = ? AND deleted = 0",
                (user_id, version)).fetchone():
                return None
            where, params = _keys_where(user_id, version, room_id, session_id)
            changed = conn.execute(f"DELETE FROM room_key_backup_keys WHERE {where}", params).rowcount > 0
            return self._bump_etag(conn, user_id, version, changed)

        return await self.db.write(txn)

    def _bump_etag(self, conn: sqlite3.Connection, user_id: str, version: int, changed: bool) -> tuple[int, int]:
        if changed:
            conn.execute("UPDATE room_key_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?",
                         (user_id, version))
        etag = conn.execute("SELECT etag FROM room_key_backup_versions WHERE user_id = ? AND version = ?",
                            (user_id, version)).fetchone()[0]
        count = conn.execute("SELECT count(*) FROM room_key_backup_keys WHERE user_id = ? AND version = ?",
                             (user_id, version)).fetchone()[0]
        return int(count), int(etag)


def _keys_where(
    user_id: str, version: int, room_id: str | None, session_id: str | None,
) -> tuple[str, list[Any]]:
    """The condition selecting a version's keys, all of them or narrowed to a room or a session."""
    where = "user_id = ? AND version = ?"
    params: list[Any] = [user_id, version]
    if room_id is not None:
        where += " AND room_id = ?"
        params.append(room_id)
    if session_id is not None:
        where += " AND session_id = ?"
        params.append(session_id)
    return where, params
