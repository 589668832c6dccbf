"""Persistence of the audit log: the chained rows and the head record (newest seq and hash).

The chain's rules (what is hashed, how values are escaped, what makes a chain broken) live in
gov/audit.py; this file only reads and writes rows. An append reads the head and inserts in one
writer transaction, so concurrent appends can never fork the chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from qasid.store.sqlite.engine import Database

T = TypeVar("T")

_COLUMNS = ("seq, ts, actor, actor_device, action, target, source_ip, unit_id, details,"
            " prev_hash, entry_hash")


class AuditEntry(NamedTuple):
    """One stored entry, in column order (the first ten fields are what its hash covers)."""

    seq: int
    ts: int
    actor: str
    actor_device: str | None
    action: str
    target: str | None
    source_ip: str | None
    unit_id: int | None
    details: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class NewAuditEntry:
    """An entry to append, with values already escaped; seq, ts and the hashes are set on append.

    With `unit_id` None and `official` set, the entry is filed under that official's unit.
    """

    actor: str
    actor_device: str | None
    action: str
    target: str | None
    source_ip: str | None
    unit_id: int | None
    official: str | None
    details: str


# seq, ts, actor, actor_device, action, target, source_ip, unit_id, details, prev_hash
HashedFields = tuple[int, int, str, str | None, str, str | None, str | None, int | None, str, str]


class AuditStore:
    """Appends to and reads the audit_log and audit_head tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(
        self, entry: NewAuditEntry, now_ms: Callable[[], int], entry_hash: Callable[[HashedFields], str],
    ) -> int:
        """Append after the head in one writer transaction of its own; returns its seq."""
        return await self.db.write(lambda conn: append_entry(conn, entry, now_ms, entry_hash))

    async def append_prepared(self, append: Callable[[sqlite3.Connection], int]) -> int:
        """Run an append made by `append_entry`'s caller in a writer transaction of its own; its seq."""
        return await self.db.write(append)

    def head(self) -> tuple[int, str] | None:
        """The newest (seq, entry_hash) recorded as written, or None if the head row is gone."""
        row = self.db.read_one("SELECT seq, entry_hash FROM audit_head WHERE id = 1")
        return None if row is None else (int(row[0]), str(row[1]))

    def entries(
        self, *, after_seq: int, limit: int, unit_ids: frozenset[int] | None = None,
        action: str | None = None, actor: str | None = None, target: str | None = None,
        unit_id: int | None = None, since_ts: int | None = None, until_ts: int | None = None,
    ) -> list[AuditEntry]:
        """Entries after `after_seq`, oldest first, matching every filter given (stored values, exactly).

        `since_ts` and `until_ts` bound the time (ms, inclusive start, exclusive end).
        """
        where: list[str] = ["seq > ?"]
        params: list[Any] = [after_seq]
        if unit_ids is not None:
            if not unit_ids:
                return []
            where.append(f"unit_id IN ({','.join('?' * len(unit_ids))})")
            params.extend(sorted(unit_ids))
        for column, value in (("action", action), ("actor", actor), ("target", target)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if unit_id is not None:
            where.append("unit_id = ?")
            params.append(unit_id)
        if since_ts is not None:
            where.append("ts >= ?")
            params.append(since_ts)
        if until_ts is not None:
            where.append("ts < ?")
            params.append(until_ts)
        params.append(limit)
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            params)
        return [AuditEntry._make(row) for row in rows]

    def counts_by_day(self, since_ts: int, unit_ids: frozenset[int] | None = None) -> dict[int, int]:
        """The number of entries per UTC day (keyed by the day's number since the epoch) from `since_ts`."""
        where, params = "ts >= ?", [since_ts]
        if unit_ids is not None:
            if not unit_ids:
                return {}
            where += f" AND unit_id IN ({','.join('?' * len(unit_ids))})"
            params.extend(sorted(unit_ids))
        rows = self.db.read(f"SELECT ts / 86400000, count(*) FROM audit_log WHERE {where} GROUP BY 1", params)
        return {int(r[0]): int(r[1]) for r in rows}

    def read_range(
        self, since_ts: int | None, until_ts: int | None, max_entries: int | None = None,
    ) -> tuple[tuple[int, str] | None, list[AuditEntry]]:
        """See `read_range`; blocking, so run it off the event loop."""
        with self.db.snapshot() as conn:
            return read_range(conn, since_ts, until_ts, max_entries)

    def read_chain(self, check: Callable[[tuple[int, str] | None, Iterator[AuditEntry]], T]) -> T:
        """`check(head, rows)` over one snapshot of the whole log; blocking, so run it off the event loop."""
        with self.db.snapshot() as conn:
            return read_chain(conn, check)


def append_entry(
    conn: sqlite3.Connection, entry: NewAuditEntry, now_ms: Callable[[], int],
    entry_hash: Callable[[HashedFields], str],
) -> int:
    """Append after the head inside the caller's writer transaction (the head is read and moved in it,
    so the chain can't fork); returns the new seq."""
    head = conn.execute("SELECT seq, entry_hash FROM audit_head WHERE id = 1").fetchone()
    seq, prev_hash = int(head[0]) + 1, str(head[1])
    unit = entry.unit_id if entry.unit_id is not None else _unit_of(conn, entry.official)
    fields: HashedFields = (seq, now_ms(), entry.actor, entry.actor_device, entry.action,
                            entry.target, entry.source_ip, unit, entry.details, prev_hash)
    digest = entry_hash(fields)
    conn.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*fields, digest))
    conn.execute("UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (seq, digest))
    return seq


def read_chain(conn: Any, check: Callable[[tuple[int, str] | None, Iterator[AuditEntry]], T]) -> T:
    """`check(head, rows in seq order)` on a connection inside one snapshot (the head and the rows agree)."""
    row = conn.execute("SELECT seq, entry_hash FROM audit_head WHERE id = 1").fetchone()
    head = None if row is None else (int(row[0]), str(row[1]))
    cursor = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    return check(head, map(AuditEntry._make, cursor))


def read_chain_of_file(path: Path, check: Callable[[tuple[int, str] | None, Iterator[AuditEntry]], T]) -> T:
    """`read_chain` on a read-only connection of its own to the SQLite file at `path`, in one snapshot."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("BEGIN")
        return read_chain(conn, check)
    finally:
        conn.close()


def read_range(
    conn: Any, since_ts: int | None, until_ts: int | None, max_entries: int | None = None,
) -> tuple[tuple[int, str] | None, list[AuditEntry]]:
    """The head and every entry from the first written at or after `since_ts` to the last written before
    `until_ts`, without gaps (an entry written out of time order inside is kept, so the slice is a
    contiguous piece of the chain); `conn` is inside one snapshot, so the head and the rows agree.
    More than `max_entries`: TooManyEntries."""
    row = conn.execute("SELECT seq, entry_hash FROM audit_head WHERE id = 1").fetchone()
    head = None if row is None else (int(row[0]), str(row[1]))
    low = conn.execute("SELECT min(seq) FROM audit_log WHERE ts >= ?",
                       (since_ts if since_ts is not None else -2**63,)).fetchone()[0]
    high = conn.execute("SELECT max(seq) FROM audit_log WHERE ts < ?",
                        (until_ts if until_ts is not None else 2**63 - 1,)).fetchone()[0]
    if low is None or high is None or low > high:
        return head, []
    if max_entries is not None and high - low + 1 > max_entries:
        raise TooManyEntries(high - low + 1)
    cursor = conn.execute(f"SELECT {_COLUMNS} FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq", (low, high))
    return head, [AuditEntry._make(r) for r in cursor]


class TooManyEntries(Exception):
    """A range holds more entries than the caller allows."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} entries")
        self.count = count


def _unit_of(conn: sqlite3.Connection, user_id: str | None) -> int | None:
    if user_id is None:
        return None
    row = conn.execute("SELECT unit_id FROM officials WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else int(row[0])
