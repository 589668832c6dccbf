"""The government layer assembled: one object the API, the CLI and the app hold."""

from __future__ import annotations

from qasid.core.services import Services
from qasid.gov.audit import AuditLog
from qasid.gov.enrollment import Enrollment
from qasid.gov.hooks import GovPolicy
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.maintenance import Maintenance
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope


class Government:
    """Organisation, enrollment, lifecycle, policy hooks, audit log and the maintenance schedule."""

    def __init__(self, services: Services, *, live: bool = True) -> None:
        self.services = services
        self.store = services.store.gov
        self.audit = AuditLog(services.store.audit, services.clock)
        self.org = Organisation(self.store, services.clock)
        self.enrollment = Enrollment(self.org, services.accounts, self.audit)
        # Only a live server appends events; from the CLI, room leaves wait for the server.
        self.lifecycle = Lifecycle(self.org, services.accounts, services.rooms if live else None, self.audit)
        self.policy = GovPolicy(self.org, self.lifecycle)
        self.maintenance = Maintenance(services, self.org, self.lifecycle, self.audit)

    async def admin_scope(self, user_id: str, *, is_server_admin: bool) -> AdminScope | None:
        """The admin's scope, or None if the user administers nothing."""
        return self.org.admin_scope(user_id, is_server_admin)
