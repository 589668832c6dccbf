"""An account leaving on its own (POST /account/deactivate).

Outside the tree an account deactivates as on a plain homeserver. An official leaves only if
their unit's policy (`self_deactivation`, off unless an admin turns it on) lets them; otherwise
their unit's admins offboard them. Either way the effect is offboarding's: every token revoked,
every device and its keys deleted, every room left, no login again; and it is audited.
"""

from __future__ import annotations

from typing import Any

from qasid.core.accounts import AccountService
from qasid.core.device_sessions import Requester
from qasid.core.errors import MatrixError
from qasid.core.uia import UiaOperation
from qasid.gov.audit import AuditLog
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.org import Organisation
from qasid.store.sqlite.engine import Also


class SelfDeactivation:
    """Deactivation requested by the account's owner, after their password."""

    def __init__(self, org: Organisation, lifecycle: Lifecycle, accounts: AccountService, audit: AuditLog) -> None:
        self.org = org
        self.lifecycle = lifecycle
        self.accounts = accounts
        self.audit = audit

    def check_allowed(self, user_id: str) -> None:
        """403 naming who to ask when the official's unit keeps self-deactivation off."""
        official = self.org.store.official(user_id)
        if official is None or self.org.policy_of_user(user_id)["self_deactivation"]:
            return
        unit = self.org.store.units().get(official.unit_id)
        where = f"{unit.name} ({unit.code})" if unit is not None else "your unit"
        raise MatrixError(403, "M_FORBIDDEN",
                          f"Your unit's policy doesn't let you deactivate your own account: ask an admin of"
                          f" {where} to offboard you")

    async def deactivate(self, who: Requester, operation: UiaOperation, source_ip: str | None) -> dict[str, Any]:
        """Check the policy, then the password (user-interactive auth), then deactivate (and erase if asked)."""
        erase = operation.body.get("erase", False)
        if not isinstance(erase, bool):
            raise MatrixError(400, "M_BAD_JSON", "erase must be true or false")
        self.check_allowed(who.user_id)
        await self.accounts.require_password_uia(who, operation)
        user_id = who.user_id
        official = self.org.store.official(user_id)
        devices = await self.accounts.store.list_devices(user_id)
        also: list[Also] = [self.audit.prepare(actor=user_id, actor_device=who.device_id, source_ip=source_ip,
                                   action="account.deactivate", target=user_id,
                                   unit_id=official.unit_id if official else None,
                                   details={"erase": erase, "devices_deleted": len(devices)})]
        if erase:
            also.append(self.accounts.store.eraser(user_id))
        if not await self.org.store.deactivate(user_id, user_id, self.org.clock.now_ms(), also=also):
            raise MatrixError(403, "M_FORBIDDEN", "This account is already deactivated")
        await self.accounts.delete_devices(user_id, [d.device_id for d in devices], source_ip=source_ip,
                                           reason="deactivated")
        if self.lifecycle.rooms is not None:
            await self.lifecycle.finish_offboarding(user_id, user_id)
        return {"id_server_unbind_result": "no-support"}
