"""Reports reach the admins of the reported official's unit (and national admins), like the audit log.

A report is filed under the unit the reported account is placed in when it is made: the
event's sender, the room's creator, the user. Accounts outside the tree: national admins only.
A unit admin reads only reports about accounts they outrank (never about themselves or a peer).

The audit entry of a report holds its metadata and the length of the reason, not the reason: the
reporter's words may quote the messages they report, and the audit log is kept for good and read
by every admin of the unit. The reason stays in the report, for the admins who handle it.
"""

from __future__ import annotations

from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.clock import Clock
from qasid.core.device_sessions import Requester
from qasid.core.errors import MatrixError
from qasid.core.ratelimit import RateLimiter
from qasid.core.reports import ReportTargets, parse_report_body
from qasid.gov.audit import MAX_LIMIT, AuditLog, iso_time
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.events import EventStore
from qasid.store.sqlite.reports import NewReport, Report, ReportStore


def unknown_report(report_id: object) -> MatrixError:
    """The one answer for a report that doesn't exist or lies outside the admin's scope."""
    return MatrixError(404, "M_NOT_FOUND", f"Unknown report {report_id}")

class Reports:
    """Files users' reports, and lets admins read and resolve those in their scope."""

    def __init__(self, org: Organisation, targets: ReportTargets, store: ReportStore, events: EventStore,
                 audit: AuditLog, clock: Clock, ratelimiter: RateLimiter) -> None:
        self.org = org
        self.targets = targets
        self.store = store
        self.events = events
        self.audit = audit
        self.clock = clock
        self.ratelimiter = ratelimiter

    # --- filing, from the client API -------------------------------------------------------

    async def report_event(self, who: Requester, room_id: str, event_id: str, body: dict[str, Any],
                           source_ip: str | None) -> None:
        """POST /rooms/{roomId}/report/{eventId}: the event's sender is reported."""
        parsed = parse_report_body(body, reason_required=False)
        self.ratelimiter.check("report", who.user_id)
        sender = await self.targets.event_sender(who.user_id, room_id, event_id)
        await self._file(who, "event", sender, room_id, event_id, parsed.reason, parsed.score, source_ip)

    async def report_room(self, who: Requester, room_id: str, body: dict[str, Any], source_ip: str | None) -> None:
        """POST /rooms/{roomId}/report: the room's creator is reported."""
        parsed = parse_report_body(body, reason_required=True)
        self.ratelimiter.check("report", who.user_id)
        creator = await self.targets.room_creator(who.user_id, room_id)
        await self._file(who, "room", creator, room_id, None, parsed.reason, None, source_ip)

    async def report_user(self, who: Requester, user_id: str, body: dict[str, Any], source_ip: str | None) -> None:
        """POST /users/{userId}/report."""
        parsed = parse_report_body(body, reason_required=True)
        self.ratelimiter.check("report", who.user_id)
        reported = await self.targets.user(who.user_id, user_id)
        await self._file(who, "user", reported, None, None, parsed.reason, None, source_ip)

    async def _file(self, who: Requester, kind: str, reported: str, room_id: str | None, event_id: str | None,
                    reason: str, score: int | None, source_ip: str | None) -> int:
        official = self.org.store.official(reported)
        unit_id = official.unit_id if official else None

        def entry(report_id: int) -> AuditAppend:
            details: dict[str, Any] = {"report_id": report_id, "reason_chars": len(reason)}
            details |= {k: v for k, v in (("room_id", room_id), ("event_id", event_id), ("score", score)) if v is not None}
            return self.audit.prepare(actor=who.user_id, actor_device=who.device_id, source_ip=source_ip,
                                      action=f"report.{kind}", target=reported, unit_id=unit_id, details=details)

        return await self.store.add(NewReport(kind, who.user_id, reported, room_id, event_id, unit_id, reason, score,
                                              self.clock.now_ms()), entry)

    # --- reading and resolving, for admins -------------------------------------------------

    def list_reports(self, scope: AdminScope, *, after_id: int = 0, limit: int = 100,
                     resolved: bool | None = None) -> list[dict[str, Any]]:
        """Reports in the admin's scope after `after_id`, oldest first (at most `limit`)."""
        if scope.unit_ids is not None and not scope.unit_ids:
            return []
        limit = max(1, min(limit, MAX_LIMIT))
        found: list[Report] = []
        # Reports about accounts the admin doesn't outrank are skipped: read on until the page is full.
        while len(found) < limit:
            page = self.store.reports(scope.unit_ids, after_id=after_id, limit=limit, resolved=resolved)
            shown = set(self.org.outranked(scope, sorted({r.reported_user for r in page})))
            found += [r for r in page if r.reported_user in shown][:limit - len(found)]
            if len(page) < limit:
                break
            after_id = page[-1].report_id
        return [report_json(r) for r in found]

    async def show(self, scope: AdminScope, report_id: int) -> dict[str, Any]:
        """One report in the admin's scope, with the reported event's metadata (never its content)."""
        report = self._in_scope(scope, report_id)
        shown = report_json(report)
        if report.event_id is not None:
            row = await self.events.get_event(report.event_id)
            shown["event"] = None if row is None else {
                "type": row.pdu["type"], "sender": row.pdu["sender"], "origin_server_ts": row.pdu["origin_server_ts"],
                "redacted": row.redacted_by is not None}
        return shown

    async def resolve(self, scope: AdminScope, report_id: int) -> dict[str, Any]:
        """Mark a report in the admin's scope handled, and record who did; 400 if it already was."""
        report = self._in_scope(scope, report_id)
        entry = self.audit.prepare(actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                                   action="report.resolve", target=report.reported_user, unit_id=report.unit_id,
                                   details={"report_id": report_id, "kind": report.kind})
        if not await self.store.resolve(report_id, scope.user_id, self.clock.now_ms(), also=[entry]):
            raise MatrixError(400, "M_INVALID_PARAM", f"Report {report_id} is already resolved")
        return await self.show(scope, report_id)

    def _in_scope(self, scope: AdminScope, report_id: int) -> Report:
        report = self.store.report(report_id)
        if report is None or not scope.covers(report.unit_id) or not self.org.outranked(scope, [report.reported_user]):
            raise unknown_report(report_id)
        return report

def report_json(report: Report) -> dict[str, Any]:
    """A report as the admin API and the CLI show it."""
    return {
        "report_id": report.report_id, "kind": report.kind, "reporter": report.reporter,
        "reported_user": report.reported_user, "room_id": report.room_id, "event_id": report.event_id,
        "unit_id": report.unit_id, "reason": report.reason, "score": report.score,
        "created_ts": report.created_ts, "time": iso_time(report.created_ts),
        "resolved_ts": report.resolved_ts, "resolved_by": report.resolved_by,
    }
