"""The government layer assembled: one object the API, the CLI and the app hold."""

from __future__ import annotations

from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.errors import MatrixError, forbidden
from qasid.core.reports import ReportTargets
from qasid.core.services import Services
from qasid.gov.account_moderation import AccountModeration
from qasid.gov.audit import AuditLog
from qasid.gov.audit_export import export_signed
from qasid.gov.clearance import Clearance
from qasid.gov.console import ConsoleSessions
from qasid.gov.dashboard import Dashboard
from qasid.gov.deactivation import SelfDeactivation
from qasid.gov.directives import Directives
from qasid.gov.directory_signin import DirectorySignIn
from qasid.gov.enrollment import Enrollment
from qasid.gov.hooks import GovPolicy
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.maintenance import Maintenance
from qasid.gov.org import Organisation, unit_json
from qasid.gov.reports import Reports
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.audit import TooManyEntries
from qasid.store.sqlite.gov import Unit

# An export through the API is one response: past this, narrow it with since/until (the CLI has no limit).
MAX_EXPORT_ENTRIES = 100_000


class Government:
    """Organisation, enrollment, lifecycle, policy hooks, audit log and the maintenance schedule."""

    def __init__(self, services: Services, *, live: bool = True) -> None:
        self.services = services
        self.store = services.store.gov
        self.audit = AuditLog(services.store.audit, services.clock)
        self.org = Organisation(self.store, services.clock, services.settings.classification_levels)
        self.enrollment = Enrollment(self.org, services.accounts, self.audit)
        # Only a live server appends events; from the CLI, room leaves wait for the server.
        self.lifecycle = Lifecycle(self.org, services.accounts, services.rooms if live else None, self.audit)
        self.clearance = Clearance(self.org, self.lifecycle, self.audit)
        self.moderation = AccountModeration(self.lifecycle, services.settings.server_name)
        self.policy = GovPolicy(self.org, self.lifecycle, self.clearance)
        self.directives = Directives(self.org, services.store.directives, self.audit,
                                     services.rooms if live else None, services.settings.server_name)
        self.policy.directives = self.directives
        if live:
            self.lifecycle.on_placement = self.enrollment.on_placement = self.directives.official_changed
            # A directive reaches its recipients even if they block invitations (core/invite_blocking.py).
            services.rooms.invite_blocking_exempt = frozenset({self.directives.notices})
        # Sign-in with the government directory (off unless ldap_uri is set); the app hands it to core.
        self.directory = DirectorySignIn(services.settings, services.store, services.clock, self.audit)
        self.maintenance = Maintenance(services, self.org, self.lifecycle, self.audit, self.directives,
                                       self.clearance, self.directory)
        self.console = ConsoleSessions(services.store.console, services.accounts, self.org, self.audit,
                                       services.clock)
        self.reports = Reports(
            self.org, ReportTargets(services.rooms, services.visibility, services.store.accounts, self.policy),
            services.store.reports, services.store.events, self.audit, services.clock, services.ratelimiter)
        self.deactivation = SelfDeactivation(self.org, self.lifecycle, services.accounts, self.audit)
        self.dashboard = Dashboard(self.org, self.lifecycle, self.enrollment, self.audit)

    async def admin_scope(self, user_id: str, *, is_server_admin: bool) -> AdminScope | None:
        """The admin's scope, or None if the user administers nothing."""
        return self.org.admin_scope(user_id, is_server_admin)

    # The admin API and the console change the tree through these, so both audit alike.

    async def create_unit(self, scope: AdminScope, parent_id: int | None, code: Any, name: Any) -> Unit:
        """Create a unit (see Organisation.create_unit) and record it."""
        return await self.org.create_unit(scope, parent_id, code, name,
                                          record=lambda unit: self._entry(scope, "unit.create", unit, unit_json(unit)))

    async def update_unit(self, scope: AdminScope, unit_id: int, body: dict[str, Any]) -> Unit:
        """Rename and/or move a unit (see Organisation.update_unit) and record it."""
        unit = await self.org.update_unit(scope, unit_id, body,
                                          record=lambda unit: self._entry(scope, "unit.update", unit, body))
        if "parent_id" in body:
            await self.directives.reconcile_all()
        return unit

    async def set_unit_policy(self, scope: AdminScope, unit_id: int, values: Any) -> dict[str, Any]:
        """Set policy keys on a unit (null: inherit again) and record it; returns the unit's own keys."""
        unit = self.org.unit_in_scope(scope, unit_id)
        entry = self._entry(scope, "policy.change", unit, values if isinstance(values, dict) else {})
        return await self.org.set_unit_policy(scope, unit.unit_id, values, replace=False, also=entry)

    async def export_audit(self, scope: AdminScope, since_ts: int | None, until_ts: int | None) -> dict[str, Any]:
        """The audit log from `since_ts` to `until_ts`, signed with the server's key (national admins only)."""
        if not scope.is_national:
            raise forbidden("Only a national admin can export the audit log")
        try:
            return await export_signed(
                self.audit, actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                key=self.services.signing_key, server_name=self.services.settings.server_name,
                since_ts=since_ts, until_ts=until_ts, max_entries=MAX_EXPORT_ENTRIES)
        except TooManyEntries as e:
            raise MatrixError(400, "M_TOO_LARGE", f"The range holds {e.count} entries, more than the"
                              f" {MAX_EXPORT_ENTRIES} one export may: narrow it with since and until") from None
        except ValueError as e:
            raise MatrixError(500, "M_UNKNOWN", str(e)) from None

    def _entry(self, scope: AdminScope, action: str, unit: Unit, details: dict[str, Any]) -> list[AuditAppend]:
        """The admin's entry for a change to `unit`, for the store to commit in the change's own transaction."""
        return [self.audit.prepare(actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                                   action=action, target=unit.code, unit_id=unit.unit_id, details=details)]
