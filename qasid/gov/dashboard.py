"""The console's dashboard: counts over what an admin administers, never content or who talked to whom."""

from __future__ import annotations

from dataclasses import dataclass

from qasid.gov.audit import DAY_MS, AuditLog
from qasid.gov.enrollment import Enrollment
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope

ACTIVE_DAYS = 7
EVENT_DAYS = 14


@dataclass(frozen=True)
class Counts:
    """What the dashboard shows: numbers only."""

    units: int
    officials: int
    officials_suspended: int
    officials_offboarded: int
    devices_active: int
    enrollments_pending: int
    audit_events_per_day: list[tuple[str, int]]


class Dashboard:
    """Counts, scoped like every other admin read."""

    def __init__(self, org: Organisation, lifecycle: Lifecycle, enrollment: Enrollment, audit: AuditLog) -> None:
        self.org = org
        self.lifecycle = lifecycle
        self.enrollment = enrollment
        self.audit = audit

    async def counts(self, scope: AdminScope) -> Counts:
        """Officials by state, devices seen in the last week, tokens with uses left, audit entries per day."""
        officials = self.lifecycle.list_officials(scope, None)
        states = [o["state"] for o in officials]
        user_ids = {o["user_id"] for o in officials}
        now = self.org.clock.now_ms()
        since = now - ACTIVE_DAYS * DAY_MS
        devices = await self.lifecycle.accounts.store.device_last_activity()
        active = sum(1 for user_id, _, seen in devices if user_id in user_ids and seen >= since)
        pending = sum(1 for t in self.enrollment.list_tokens(scope)
                      if (t.uses_allowed is None or t.completed < t.uses_allowed)
                      and (t.expiry_time is None or t.expiry_time > now))
        return Counts(
            units=len(self.org.list_units(scope)), officials=len(officials),
            officials_suspended=states.count("suspended"), officials_offboarded=states.count("offboarded"),
            devices_active=active, enrollments_pending=pending,
            audit_events_per_day=self.audit.counts_by_day(scope.unit_ids, EVENT_DAYS))
