"""Reports of events, rooms and users, filed under the reported official's unit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qasid.store.sqlite.engine import Also, Database, with_also

# In Report's field order: what was filed, then the ID and the resolution.
_COLUMNS = ("kind, reporter, reported_user, room_id, event_id, unit_id, reason, score, created_ts,"
            " report_id, resolved_ts, resolved_by")


@dataclass(frozen=True)
class NewReport:
    """What a reporter files; the store gives it its ID."""

    kind: str
    reporter: str
    reported_user: str
    room_id: str | None
    event_id: str | None
    unit_id: int | None
    reason: str
    score: int | None
    created_ts: int


@dataclass(frozen=True)
class Report(NewReport):
    """One stored report: what was filed, its ID, and its resolution."""

    report_id: int
    resolved_ts: int | None
    resolved_by: str | None


class ReportStore:
    """Typed persistence for reports."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, report: NewReport, audit: Callable[[int], Also]) -> int:
        """Store the report and `audit(report_id)`, its audit entry, in one transaction; its report_id."""

        def txn(conn: sqlite3.Connection) -> int:
            report_id = int(conn.execute(
                "INSERT INTO reports (kind, reporter, reported_user, room_id, event_id, unit_id, reason, score,"
                " created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING report_id",
                (report.kind, report.reporter, report.reported_user, report.room_id, report.event_id,
                 report.unit_id, report.reason, report.score, report.created_ts)).fetchone()[0])
            audit(report_id)(conn)
            return report_id

        return await self.db.write(txn)

    def reports(self, unit_ids: frozenset[int] | None, *, after_id: int, limit: int,
                resolved: bool | None) -> list[Report]:
        """Reports after `after_id`, oldest first; `unit_ids` None reads all, else only those units'."""
        where, params = ["report_id > ?"], [after_id]
        if unit_ids is not None:
            where.append(f"unit_id IN ({','.join('?' * len(unit_ids))})")
            params += sorted(unit_ids)
        if resolved is not None:
            where.append("resolved_ts IS NOT NULL" if resolved else "resolved_ts IS NULL")
        rows = self.db.read(f"SELECT {_COLUMNS} FROM reports WHERE {' AND '.join(where)}"
                            " ORDER BY report_id LIMIT ?", [*params, limit])
        return [Report(*r) for r in rows]

    def report(self, report_id: int) -> Report | None:
        """One report, or None."""
        row = self.db.read_one(f"SELECT {_COLUMNS} FROM reports WHERE report_id = ?", (report_id,))
        return Report(*row) if row else None

    async def resolve(self, report_id: int, resolved_by: str, now_ms: int, also: Sequence[Also] = ()) -> bool:
        """Mark the report resolved (and write `also`); False if it already was."""

        def txn(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE reports SET resolved_ts = ?, resolved_by = ? WHERE report_id = ? AND resolved_ts IS NULL",
                (now_ms, resolved_by, report_id)).rowcount > 0

        return await self.db.write(with_also(txn, also, when=bool))
