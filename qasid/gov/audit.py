"""The audit log: append-only, hash-chained, escaped; verify names the first broken entry.

Each entry's `entry_hash` is the SHA-256 of its canonical serialisation, which includes
`prev_hash`, the previous entry's `entry_hash` (64 zeros for the first). An append reads the head
and inserts inside one writer transaction, so concurrent records can never fork the chain.

What verify catches, and what it cannot:
- an edited row (its hash no longer matches), a deleted row (a gap in `seq`), a re-linked or
  forged row (its `prev_hash` does not match its predecessor's hash);
- a deleted tail, through `audit_head` (the newest seq and hash, kept in the same transaction);
- someone with write access to the file who rewrites a row *and* every later hash *and* the head
  is caught only against an anchor kept elsewhere: verify prints the head, an operator records
  it off the machine, and `verify --anchor SEQ:HASH` later proves the log still extends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.clock import Clock
from qasid.core.errors import forbidden
from qasid.gov.audit_text import escape, escape_json, neutralise, neutralise_json
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.audit import (
    AuditEntry,
    AuditStore,
    HashedFields,
    NewAuditEntry,
    append_entry,
    read_chain_of_file,
)

GENESIS_HASH = "0" * 64
# Bumped if the serialisation ever changes; part of every hashed entry.
HASH_VERSION = "qasid-audit-1"
OPERATOR = "operator"
MAX_LIMIT = 1000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of recomputing the chain; `first_broken_seq` names the first bad entry."""

    ok: bool
    entries_checked: int
    first_broken_seq: int | None
    reason: str
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    def to_json(self) -> dict[str, Any]:
        """The API's rendering."""
        return {
            "ok": self.ok, "entries_checked": self.entries_checked,
            "first_broken_seq": self.first_broken_seq, "reason": self.reason,
            "head": {"seq": self.head_seq, "entry_hash": self.head_hash},
        }


def canonical(
    seq: int, ts: int, actor: str, actor_device: str | None, action: str, target: str | None,
    source_ip: str | None, unit_id: int | None, details: str, prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken over: exactly the stored column values, in order."""
    fields = [HASH_VERSION, seq, ts, actor, actor_device, action, target, source_ip, unit_id,
              details, prev_hash]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def entry_hash(*fields: Any) -> str:
    """SHA-256 hex of `canonical(*fields)`."""
    return hashlib.sha256(canonical(*fields)).hexdigest()


def _hash_fields(fields: HashedFields) -> str:
    return entry_hash(*fields)


def _row_hash(row: AuditEntry) -> str:
    return entry_hash(*row[:10])


def iso_time(ts_ms: int) -> str:
    """UTC ISO-8601 with milliseconds, e.g. 2025-03-01T09:30:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + f".{ts_ms % 1000:03d}Z"


class AuditLog:
    """Appends, reads and verifies the audit trail. Holds no chain state: instances may share a db."""

    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> int:
        """Append one entry durably, in a transaction of its own, and return its seq: for an entry that is
        itself the event (a failed login). Metadata only: never pass message content.

        With no unit_id, an entry whose target is an official is filed under that official's unit,
        so their unit's admins see their logins and devices.
        """
        entry = _new_entry(actor, action, target, source_ip, unit_id, details, actor_device)
        return await self.store.append(entry, self.clock.now_ms, _hash_fields)

    def prepare(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> AuditAppend:
        """The entry as a function of the writer's connection: the store runs it inside the audited
        action's own transaction, so both commit or neither does."""
        entry = _new_entry(actor, action, target, source_ip, unit_id, details, actor_device)
        return lambda conn: append_entry(conn, entry, self.clock.now_ms, _hash_fields)

    async def commit(self, append: AuditAppend) -> int:
        """A prepared entry in a transaction of its own: for an entry that is itself the whole event."""
        return await self.store.append_prepared(append)

    async def entries(
        self, *, unit_ids: frozenset[int] | None, after_seq: int = 0, limit: int = 100,
        action: str | None = None, actor: str | None = None, target: str | None = None,
        unit_id: int | None = None, since_ts: int | None = None, until_ts: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries after `after_seq`, oldest first; `unit_ids` None reads all, else only those units'.

        Entries with no unit are national: a scoped reader never sees them. The other filters
        match the stored (escaped) values exactly.
        """
        if unit_ids is not None and not unit_ids:
            return []
        rows = self.store.entries(
            after_seq=after_seq, limit=max(1, min(limit, MAX_LIMIT)), unit_ids=unit_ids,
            action=_opt(action), actor=_opt(actor), target=_opt(target), unit_id=unit_id,
            since_ts=since_ts, until_ts=until_ts)
        return [render(row) for row in rows]

    def counts_by_day(self, unit_ids: frozenset[int] | None, days: int) -> list[tuple[str, int]]:
        """Entries per UTC day over the last `days` days (oldest first, zero days included): counts only."""
        today = self.clock.now_ms() // DAY_MS
        counts = self.store.counts_by_day((today - days + 1) * DAY_MS, unit_ids)
        return [(iso_time(day * DAY_MS)[:10], counts.get(day, 0)) for day in range(today - days + 1, today + 1)]

    async def verify_as(self, scope: AdminScope, anchor: tuple[int, str] | None = None) -> VerifyResult:
        """Verify the whole chain for a national admin (403 for anyone else), recording the check."""
        if not scope.is_national:
            raise forbidden("Only a national admin can verify the whole audit chain")
        result = await self.verify(anchor)
        await self.record(actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                          action="audit.verify", details={"ok": result.ok, "first_broken_seq": result.first_broken_seq})
        return result

    async def verify(self, anchor: tuple[int, str] | None = None) -> VerifyResult:
        """Recompute the whole chain from a consistent snapshot; check the head and an optional anchor."""
        return await asyncio.to_thread(self.store.read_chain, _verifier(anchor))


def verify_file(path: Path, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Verify the chain in the SQLite file at `path`, on a read-only connection of its own."""
    return read_chain_of_file(path, _verifier(anchor))


def _verifier(
    anchor: tuple[int, str] | None,
) -> Callable[[tuple[int, str] | None, Iterator[AuditEntry]], VerifyResult]:
    def check(head: tuple[int, str] | None, rows: Iterator[AuditEntry]) -> VerifyResult:
        return _verify_rows(rows, head, anchor)

    return check


def _verify_rows(
    rows: Iterable[AuditEntry], head: tuple[int, str] | None, anchor: tuple[int, str] | None,
) -> VerifyResult:
    prev_hash, expected, checked = GENESIS_HASH, 1, 0
    anchor_hash: str | None = None

    def broken(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, reason, expected - 1, prev_hash)

    for row in rows:
        seq = int(row[0])
        if seq != expected:
            if seq < expected:
                return broken(seq, f"entry {seq} is out of sequence after entry {expected - 1}")
            return broken(expected, f"entry {expected} is missing: entry {seq} follows entry {expected - 1}"
                          " (a row was deleted)")
        if _row_hash(row) != row[10]:
            return broken(seq, f"entry {seq} does not match its hash (the row was edited)")
        if row[9] != prev_hash:
            return broken(seq, f"entry {seq} does not link to entry {seq - 1}: its prev_hash differs from"
                          f" that entry's hash (entry {seq - 1} was rewritten, or entry {seq} was forged)")
        if anchor is not None and seq == anchor[0]:
            anchor_hash = row[10]
        prev_hash, expected, checked = row[10], expected + 1, checked + 1
    last = expected - 1
    if head is None:
        return broken(last + 1, "the audit head record is missing")
    head_seq, head_hash = int(head[0]), str(head[1])
    if head_seq > last:
        return broken(last + 1, f"entries {last + 1} to {head_seq} are missing: the log ends at entry"
                      f" {last} but entry {head_seq} was written (the tail was deleted)")
    if head_seq < last:
        return broken(head_seq + 1, f"entries after {head_seq} were never recorded as written"
                      " (rows appended outside the server, or the head was rolled back)")
    if head_hash != prev_hash:
        return broken(last, f"entry {last} differs from the one recorded as written last")
    if anchor is not None:
        if anchor[0] > last:
            return broken(last + 1, f"the log ends at entry {last}, before the anchor entry {anchor[0]}")
        if anchor[0] > 0 and anchor_hash != anchor[1]:
            return broken(anchor[0], f"entry {anchor[0]} differs from the anchored hash: history was rewritten")
    return VerifyResult(True, checked, None, f"intact: {checked} entries", last, prev_hash)


def render(row: AuditEntry) -> dict[str, Any]:
    """An entry as the API and CLI show it; any control character a direct edit left is neutralised."""
    seq, ts, actor, actor_device, action, target, source_ip, unit_id, details, prev, digest = row
    try:
        parsed = neutralise_json(json.loads(details))
    except ValueError:
        parsed = {"unparseable": neutralise(str(details))}
    return {
        "seq": seq, "ts": ts, "time": iso_time(int(ts)), "actor": neutralise(actor),
        "actor_device": _show(actor_device), "action": neutralise(action), "target": _show(target),
        "source_ip": _show(source_ip), "unit_id": unit_id, "details": parsed,
        "prev_hash": neutralise(prev), "entry_hash": neutralise(digest),
    }


def format_line(entry: dict[str, Any]) -> str:
    """One tab-separated line per entry; every field is escaped, so a line can hold no line break."""
    actor = entry["actor"] + (f"/{entry['actor_device']}" if entry["actor_device"] else "")
    details = json.dumps(entry["details"], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    fields = [str(entry["seq"]), entry["time"], actor, entry["action"], entry["target"] or "-",
              entry["source_ip"] or "-", "-" if entry["unit_id"] is None else str(entry["unit_id"]),
              neutralise(details)]
    return "\t".join(fields)


def _new_entry(
    actor: str, action: str, target: str | None, source_ip: str | None, unit_id: int | None,
    details: dict[str, Any] | None, actor_device: str | None,
) -> NewAuditEntry:
    stored_details = json.dumps(escape_json(details or {}), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    official = target if target and target.startswith("@") else None
    return NewAuditEntry(escape(actor), _opt(actor_device), escape(action), _opt(target), _opt(source_ip),
                         unit_id, official, stored_details)


def _opt(value: str | None) -> str | None:
    return None if value is None else escape(value)


def _show(value: str | None) -> str | None:
    return None if value is None else neutralise(value)
