"""Device keys, one-time and fallback keys, cross-signing keys, device-list changes, to-device inboxes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from qasid.store.sqlite.engine import Database

# (algorithm, key_id, key_json) as uploaded under "<algorithm>:<key_id>".
UploadedKey = tuple[str, str, Any]


class KeyConflict(Exception):
    """An upload would change a key that may not change (a device's ed25519 key, a one-time key)."""


@dataclass(frozen=True)
class DeviceKeysRow:
    device_id: str
    key_json: dict[str, Any]
    display_name: str | None


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _loads(raw: bytes) -> Any:
    return orjson.loads(raw)


class E2eeStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- device lists -------------------------------------------------------------------------

    def _record_change(self, conn: sqlite3.Connection, user_id: str) -> None:
        stream_id = self.db.next_id(conn, "device_list_changes", "stream_id")
        conn.execute("INSERT INTO device_list_changes (stream_id, user_id) VALUES (?, ?)", (stream_id, user_id))

    async def record_device_list_change(self, user_id: str) -> None:
        """Note that a user's devices or keys changed (e.g. a device was renamed)."""
        await self.db.write(lambda conn: self._record_change(conn, user_id))

    async def device_list_changes(self, after: int, upto: int) -> set[str]:
        """Users whose device lists changed at a position in (after, upto]."""
        rows = self.db.read(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > ? AND stream_id <= ?",
            (after, upto))
        return {r[0] for r in rows}

    # --- device, one-time and fallback keys ---------------------------------------------------

    async def upload_keys(
        self, user_id: str, device_id: str, device_keys: dict[str, Any] | None,
        one_time_keys: list[UploadedKey], fallback_keys: list[UploadedKey],
    ) -> bool:
        """Store a device's keys in one transaction; True if its device keys are new or changed."""
        ed25519_id = f"ed25519:{device_id}"

        def txn(conn: sqlite3.Connection) -> bool:
            changed = False
            if device_keys is not None:
                row = conn.execute(
                    "SELECT key_json FROM device_keys WHERE user_id = ? AND device_id = ?",
                    (user_id, device_id)).fetchone()
                old = _loads(row[0]) if row else None
                if old is not None and old.get("keys", {}).get(ed25519_id) != device_keys["keys"][ed25519_id]:
                    raise KeyConflict(f"Device {device_id} already has a different ed25519 key")
                if old != device_keys:
                    conn.execute(
                        "INSERT OR REPLACE INTO device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)",
                        (user_id, device_id, _dumps(device_keys)))
                    self._record_change(conn, user_id)
                    changed = True
            for algorithm, key_id, key_json in one_time_keys:
                row = conn.execute(
                    "SELECT key_json FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?"
                    " AND key_id = ?", (user_id, device_id, algorithm, key_id)).fetchone()
                if row is not None:
                    if _loads(row[0]) != key_json:
                        raise KeyConflict(f"One-time key {algorithm}:{key_id} already exists with another value")
                    continue
                conn.execute(
                    "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json)"
                    " VALUES (?, ?, ?, ?, ?)", (user_id, device_id, algorithm, key_id, _dumps(key_json)))
            for algorithm, key_id, key_json in fallback_keys:
                row = conn.execute(
                    "SELECT key_id, key_json FROM fallback_keys WHERE user_id = ? AND device_id = ?"
                    " AND algorithm = ?", (user_id, device_id, algorithm)).fetchone()
                if row is not None and row[0] == key_id and _loads(row[1]) == key_json:
                    continue  # the same key again keeps its `used` mark
                conn.execute(
                    "INSERT OR REPLACE INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)"
                    " VALUES (?, ?, ?, ?, ?, 0)", (user_id, device_id, algorithm, key_id, _dumps(key_json)))
            return changed

        return await self.db.write(txn)

    async def device_keys(self, user_id: str, device_ids: list[str] | None = None) -> list[DeviceKeysRow]:
        """A user's device keys (all devices, or the named ones) with each device's display name."""
        rows = self.db.read(
            "SELECT k.device_id, k.key_json, d.display_name FROM device_keys k JOIN devices d"
            " ON d.user_id = k.user_id AND d.device_id = k.device_id WHERE k.user_id = ?"
            " ORDER BY k.device_id", (user_id,))
        wanted = set(device_ids) if device_ids else None
        return [DeviceKeysRow(r[0], _loads(r[1]), r[2]) for r in rows if wanted is None or r[0] in wanted]

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        """Unclaimed one-time keys per algorithm."""
        rows = self.db.read(
            "SELECT algorithm, count(*) FROM one_time_keys WHERE user_id = ? AND device_id = ?"
            " GROUP BY algorithm", (user_id, device_id))
        return {r[0]: int(r[1]) for r in rows}

    async def key_status(self, user_id: str, device_id: str) -> tuple[dict[str, int], list[str]]:
        """One read for a sync answer: unclaimed one-time keys per algorithm, unused fallback key algorithms."""
        rows = self.db.read(
            "SELECT 1, algorithm, count(*) FROM one_time_keys WHERE user_id = ? AND device_id = ?"
            " GROUP BY algorithm"
            " UNION ALL SELECT 0, algorithm, 0 FROM fallback_keys WHERE user_id = ? AND device_id = ?"
            " AND used = 0", (user_id, device_id, user_id, device_id))
        return ({r[1]: int(r[2]) for r in rows if r[0]}, sorted(r[1] for r in rows if not r[0]))

    async def claim_keys(self, claims: list[tuple[str, str, str]]) -> list[tuple[str, str, str, Any]]:
        """Take the oldest one-time key of each (user, device, algorithm), else its fallback key.

        Runs in the single writer, so no two claims can ever be handed the same one-time key.
        Returns (user_id, device_id, "<algorithm>:<key_id>", key_json) per key found.
        """

        def txn(conn: sqlite3.Connection) -> list[tuple[str, str, str, Any]]:
            found = []
            for user_id, device_id, algorithm in claims:
                where = (user_id, device_id, algorithm)
                row = conn.execute(
                    "SELECT rowid, key_id, key_json FROM one_time_keys WHERE user_id = ? AND device_id = ?"
                    " AND algorithm = ? ORDER BY rowid LIMIT 1", where).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM one_time_keys WHERE rowid = ?", (row[0],))
                    found.append((user_id, device_id, f"{algorithm}:{row[1]}", _loads(row[2])))
                    continue
                row = conn.execute(
                    "SELECT key_id, key_json FROM fallback_keys WHERE user_id = ? AND device_id = ?"
                    " AND algorithm = ?", where).fetchone()
                if row is not None:
                    conn.execute(
                        "UPDATE fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                        where)
                    found.append((user_id, device_id, f"{algorithm}:{row[0]}", _loads(row[1])))
            return found

        return await self.db.write(txn)

    # --- cross-signing ------------------------------------------------------------------------

    async def cross_signing_keys(self, user_id: str) -> dict[str, dict[str, Any]]:
        """The user's cross-signing keys by type: master, self_signing, user_signing."""
        rows = self.db.read("SELECT key_type, key_json FROM cross_signing_keys WHERE user_id = ?", (user_id,))
        return {r[0]: _loads(r[1]) for r in rows}

    async def set_cross_signing_keys(self, user_id: str, keys: dict[str, dict[str, Any]]) -> None:
        """Replace the given cross-signing keys and record a device-list change."""

        def txn(conn: sqlite3.Connection) -> None:
            for key_type, key_json in keys.items():
                conn.execute(
                    "INSERT OR REPLACE INTO cross_signing_keys (user_id, key_type, key_json) VALUES (?, ?, ?)",
                    (user_id, key_type, _dumps(key_json)))
            self._record_change(conn, user_id)

        await self.db.write(txn)

    async def merge_signatures(
        self, user_id: str, device_signatures: dict[str, dict[str, dict[str, str]]],
        cross_signing_signatures: dict[str, dict[str, dict[str, str]]],
    ) -> None:
        """Add signatures to a user's device keys (by device) and cross-signing keys (by type)."""

        def merge(conn: sqlite3.Connection, select: str, update: str, key: tuple[str, str],
                  signatures: dict[str, dict[str, str]]) -> None:
            row = conn.execute(select, key).fetchone()
            if row is None:
                return
            key_json = _loads(row[0])
            merged = key_json.setdefault("signatures", {})
            for signer, by_key in signatures.items():
                merged.setdefault(signer, {}).update(by_key)
            conn.execute(update, (_dumps(key_json), *key))

        def txn(conn: sqlite3.Connection) -> None:
            for device_id, signatures in device_signatures.items():
                merge(conn, "SELECT key_json FROM device_keys WHERE user_id = ? AND device_id = ?",
                      "UPDATE device_keys SET key_json = ? WHERE user_id = ? AND device_id = ?",
                      (user_id, device_id), signatures)
            for key_type, signatures in cross_signing_signatures.items():
                merge(conn, "SELECT key_json FROM cross_signing_keys WHERE user_id = ? AND key_type = ?",
                      "UPDATE cross_signing_keys SET key_json = ? WHERE user_id = ? AND key_type = ?",
                      (user_id, key_type), signatures)
            self._record_change(conn, user_id)

        await self.db.write(txn)

    # --- to-device ----------------------------------------------------------------------------

    async def send_to_device(
        self, sender: str, sender_device: str, txn_scope: str, txn_id: str,
        messages: list[tuple[str, str, dict[str, Any]]], now_ms: int,
    ) -> set[str] | None:
        """Queue messages for (user, device or "*"); None if this transaction was already sent.

        Returns the users with a message queued. The transaction is recorded in the same commit.
        """

        def txn(conn: sqlite3.Connection) -> set[str] | None:
            if conn.execute(
                "SELECT 1 FROM transactions WHERE user_id = ? AND device_id = ? AND scope = ? AND txn_id = ?",
                (sender, sender_device, txn_scope, txn_id)).fetchone():
                return None
            recipients: set[str] = set()
            for user_id, device_id, message in messages:
                if device_id == "*":
                    rows = conn.execute("SELECT device_id FROM devices WHERE user_id = ?", (user_id,)).fetchall()
                else:
                    rows = conn.execute("SELECT device_id FROM devices WHERE user_id = ? AND device_id = ?",
                                        (user_id, device_id)).fetchall()
                blob = _dumps(message)
                for (target_device,) in rows:
                    position = conn.execute(
                        "UPDATE to_device_stream SET position = position + 1 WHERE id = 1 RETURNING position"
                    ).fetchone()[0]
                    conn.execute(
                        "INSERT INTO to_device_inbox (stream_id, user_id, device_id, message) VALUES (?, ?, ?, ?)",
                        (position, user_id, target_device, blob))
                    recipients.add(user_id)
            conn.execute(
                "INSERT INTO transactions (user_id, device_id, scope, txn_id, response, created_ts)"
                " VALUES (?, ?, ?, ?, ?, ?)", (sender, sender_device, txn_scope, txn_id, b"{}", now_ms))
            return recipients

        return await self.db.write(txn)

    async def to_device_for(self, user_id: str, device_id: str, after: int, limit: int) -> list[tuple[int, Any]]:
        """(stream_id, message) for a device's queued messages after a position, oldest first."""
        rows = self.db.read(
            "SELECT stream_id, message FROM to_device_inbox WHERE user_id = ? AND device_id = ?"
            " AND stream_id > ? ORDER BY stream_id LIMIT ?", (user_id, device_id, after, limit))
        return [(int(r[0]), _loads(r[1])) for r in rows]

    async def ack_to_device(self, user_id: str, device_id: str, upto: int) -> None:
        """Delete a device's messages up to a position its client has acknowledged."""
        await self.db.write(lambda conn: conn.execute(
            "DELETE FROM to_device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?",
            (user_id, device_id, upto)))

