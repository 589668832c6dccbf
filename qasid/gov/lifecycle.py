"""An official's life after enrollment: placement, admin roles, devices, suspension, offboarding."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from qasid.core.accounts import AccountService
from qasid.core.audit_sink import AuditAppend
from qasid.core.errors import MatrixError
from qasid.core.ids import is_user_id
from qasid.core.membership import set_membership
from qasid.core.rooms import RoomService
from qasid.gov.audit import AuditLog
from qasid.gov.enrollment import _text
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.gov import Official

log = logging.getLogger("qasid.gov")


def unknown_official(user_id: object) -> MatrixError:
    """The one error for an account that doesn't exist or lies outside the admin's scope."""
    return MatrixError(404, "M_NOT_FOUND", f"Unknown official {user_id}")


class Lifecycle:
    """Admin operations on existing officials; each is recorded in the audit log."""

    def __init__(self, org: Organisation, accounts: AccountService, rooms: RoomService | None,
                 audit: AuditLog) -> None:
        self.org = org
        self.store = org.store
        self.accounts = accounts
        # None when acting from the CLI: only the running server may append events.
        self.rooms = rooms
        self.audit = audit
        # Called after an official is placed or moved (directives keep their rooms in step).
        self.on_placement: Callable[[str], Awaitable[None]] | None = None
        # One finisher per offboarding at a time (the API's and the maintenance loop's): a second
        # waits for the first, then finds nothing pending. One lock per user offboarded since start.
        self._finishing: dict[str, asyncio.Lock] = {}

    def _entry(self, scope: AdminScope, action: str, target: str, unit_id: int | None,
               details: dict[str, Any] | None = None) -> list[AuditAppend]:
        """The admin's audit entry, for the store to commit in the action's own transaction."""
        return [self.audit.prepare(actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                                   action=action, target=target, unit_id=unit_id, details=details)]

    async def official_in_scope(
        self, scope: AdminScope, user_id: Any, *, acting: bool = True,
    ) -> tuple[str, Official | None]:
        """The account and its placement, if the admin may administer it; otherwise 404, as if unknown.

        The admin must cover the unit the account is placed in (accounts outside any unit are
        national only) and stand above every admin role it holds, so a division's admin can't
        reach the ministry's admin placed in the division. Acting on oneself is refused (403):
        one's own password, devices and roles are managed from one's client or by a superior.
        """
        if not isinstance(user_id, str) or not is_user_id(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", "user_id must be a Matrix user ID")
        if acting and user_id == scope.user_id:
            raise MatrixError(403, "M_FORBIDDEN",
                              "An admin can't act on their own account through the admin API")
        official = self.store.official(user_id)
        if not scope.covers(official.unit_id if official else None):
            raise unknown_official(user_id)
        user = await self.accounts.store.get_user(user_id)
        if user is None:
            raise unknown_official(user_id)
        if user_id != scope.user_id and not self.org.outranks(scope, user_id, user.is_admin):
            raise unknown_official(user_id)
        return user_id, official

    async def describe(self, scope: AdminScope, user_id: Any) -> dict[str, Any]:
        """An official as the admin API shows them."""
        user_id, official = await self.official_in_scope(scope, user_id, acting=False)
        user = await self.accounts.store.get_user(user_id)
        assert user is not None
        return {
            "user_id": user_id, "unit_id": official.unit_id if official else None,
            "designation": official.designation if official else None, "displayname": user.displayname,
            "deactivated": user.deactivated, "locked": self.store.is_locked(user_id),
            "read_only": self.store.is_read_only(user_id),
            "has_password": user.password_hash is not None,
            # Officials without a clearance set hold the lowest level; accounts outside the tree none.
            "clearance": (official.clearance if official.clearance in self.org.levels else self.org.levels[0])
            if official else None,
        }

    def list_officials(self, scope: AdminScope, unit_id: int | None) -> list[dict[str, Any]]:
        """Officials of one unit, or of every unit the admin covers: those the admin may administer, and themselves."""
        units = [self.org.unit_in_scope(scope, unit_id).unit_id] if unit_id is not None else \
            [u.unit_id for u in self.org.list_units(scope)]
        officials = self.store.officials_in(units)
        shown = set(self.org.outranked(scope, [o.user_id for o in officials])) | {scope.user_id}
        states = self.store.account_states([o.user_id for o in officials if o.user_id in shown])
        levels = self.org.levels
        return [{"user_id": o.user_id, "unit_id": o.unit_id, "designation": o.designation,
                 "state": states.get(o.user_id, "active"),
                 "clearance": o.clearance if o.clearance in levels else levels[0]}
                for o in officials if o.user_id in shown]

    async def update(self, scope: AdminScope, user_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Move an official to another unit the admin covers and/or change their designation."""
        user_id, official = await self.official_in_scope(scope, user_id)
        unit_id = self.org.unit_in_scope(scope, body["unit_id"]).unit_id if "unit_id" in body else None
        designation = _text(body.get("designation"), "designation") if "designation" in body else None
        if unit_id is None and official is None:
            raise MatrixError(400, "M_MISSING_PARAM", "unit_id is required for an account outside any unit")
        new_unit = unit_id if unit_id is not None else official.unit_id  # type: ignore[union-attr]
        new_designation = designation if designation is not None else (official.designation if official else "")
        await self.store.set_official(user_id, new_unit, new_designation, self.org.clock.now_ms(), also=self._entry(
            scope, "official.update", user_id, new_unit,
            {"from_unit_id": official.unit_id if official else None, "designation": new_designation}))
        if self.on_placement is not None:
            await self.on_placement(user_id)
        return await self.describe(scope, user_id)

    async def set_admin_role(self, scope: AdminScope, user_id: Any, unit_id: Any, granted: bool) -> None:
        """Make an account an admin of a unit below the granting admin's own (or revoke it)."""
        unit = self.org.unit_in_scope(scope, unit_id)
        self.org.check_may_appoint(scope, unit)
        user_id, _ = await self.official_in_scope(scope, user_id)
        await self.store.set_admin_role(user_id, unit.unit_id, granted, also=self._entry(
            scope, "admin_role.grant" if granted else "admin_role.revoke", user_id, unit.unit_id))

    async def set_password(self, scope: AdminScope, user_id: Any, password: Any) -> None:
        """Give an official (for example an imported one) a password, checked against their unit's rules."""
        user_id, official = await self.official_in_scope(scope, user_id)
        if self.accounts.directory.manages(user_id, True):
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} signs in with the government directory:"
                              " their password is set there, never here")
        self.accounts.check_password_shape(password)
        await self.accounts.policy.check_password(password, user_id=user_id, registration_token=None)
        user = await self.accounts.store.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} has been offboarded")
        await self.accounts.store.set_password_hash(user_id, await self.accounts.hash_password(password), also=self._entry(
            scope, "account.password_set", user_id, official.unit_id if official else None))

    # --- devices ---------------------------------------------------------------------------

    async def devices(self, scope: AdminScope, user_id: Any) -> list[dict[str, Any]]:
        """The official's devices with display name, last seen IP and time."""
        user_id, _ = await self.official_in_scope(scope, user_id, acting=False)
        return [{"device_id": d.device_id, "display_name": d.display_name, "last_seen_ip": d.last_seen_ip,
                 "last_seen_ts": d.last_seen_ts} for d in await self.accounts.store.list_devices(user_id)]

    async def sign_out_device(self, scope: AdminScope, user_id: Any, device_id: Any) -> None:
        """Delete one device with its tokens and keys: it is signed out on its next request."""
        user_id, official = await self.official_in_scope(scope, user_id)
        if not isinstance(device_id, str) or not await self.accounts.delete_devices(
                user_id, [device_id], actor=scope.user_id, source_ip=scope.source_ip, reason="signed_out_by_admin",
                also=self._entry(scope, "device.sign_out", user_id, official.unit_id if official else None,
                                 {"device_id": device_id})):
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown device {device_id}")

    # --- suspension and offboarding --------------------------------------------------------

    async def set_suspended(self, scope: AdminScope, user_id: Any, suspended: bool) -> None:
        """Suspend (every request but logout gets M_USER_LOCKED: the spec's lock) or lift the suspension."""
        user_id, official = await self.official_in_scope(scope, user_id)
        user = await self.accounts.store.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} has been offboarded")
        await self.store.set_locked(user_id, suspended, also=self._entry(
            scope, "account.suspend" if suspended else "account.unsuspend", user_id,
            official.unit_id if official else None))

    async def set_read_only(self, scope: AdminScope, user_id: Any, read_only: Any) -> None:
        """Make an account read-only (the spec's suspension: writes get M_USER_SUSPENDED) or lift it."""
        user_id, official = await self.official_in_scope(scope, user_id)
        if not isinstance(read_only, bool):
            raise MatrixError(400, "M_BAD_JSON", "read_only must be true or false")
        user = await self.accounts.store.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} has been offboarded")
        await self.store.set_read_only(user_id, read_only, also=self._entry(
            scope, "account.read_only" if read_only else "account.read_only_lifted", user_id,
            official.unit_id if official else None))

    async def offboard(self, scope: AdminScope, user_id: Any) -> dict[str, Any]:
        """Revoke every token, delete every device and its keys, leave every room, never log in again.

        Each step commits with its own audit entry: the deactivation (which also queues the rest),
        each device removed, each room left, and the end of the offboarding. A crash between steps
        leaves the offboarding queued; the server's maintenance loop finishes it.
        """
        user_id, official = await self.official_in_scope(scope, user_id)
        devices = await self.accounts.store.list_devices(user_id)
        if not await self.store.deactivate(user_id, scope.user_id, self.org.clock.now_ms(), also=self._entry(
                scope, "account.offboard", user_id, official.unit_id if official else None,
                {"devices_deleted": len(devices)})):
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} has already been offboarded")
        await self.accounts.delete_devices(user_id, [d.device_id for d in devices], actor=scope.user_id,
                                           source_ip=scope.source_ip, reason="offboarded")
        left = await self.finish_offboarding(user_id, scope.user_id) if self.rooms is not None else None
        return {"user_id": user_id, "devices_deleted": len(devices), "rooms_left": left,
                "rooms_pending": left is None}

    async def finish_offboarding(self, user_id: str, actor: str) -> int:
        """Delete any device an interrupted offboarding left, then leave every room the offboarded user
        is in or invited to, through core's own membership path; each leave commits with its entry."""
        assert self.rooms is not None
        async with self._finishing.setdefault(user_id, asyncio.Lock()):
            if not self.store.offboarding_pending(user_id):
                return 0
            return await self._finish_offboarding(user_id, actor)

    async def _finish_offboarding(self, user_id: str, actor: str) -> int:
        assert self.rooms is not None
        official = self.store.official(user_id)
        unit_id = official.unit_id if official else None
        leftover = [d.device_id for d in await self.accounts.store.list_devices(user_id)]
        if leftover:
            await self.accounts.delete_devices(user_id, leftover, actor=actor, reason="offboarded")
        left, failed = 0, 0
        for room_id in sorted(await self.rooms.rooms_of(user_id)):
            entry = self.audit.prepare(actor=actor, action="membership.leave", target=user_id, unit_id=unit_id,
                                       details={"room_id": room_id, "reason": "offboarded"})
            try:
                if await set_membership(self.rooms, user_id, room_id, user_id, "leave", reason="offboarded",
                                        also=[entry]):
                    left += 1
            except MatrixError as e:
                failed += 1
                log.warning("offboarding %s: could not leave %s: %s", user_id, room_id, e.message)
        await self.store.finish_offboarding(user_id, also=[self.audit.prepare(
            actor=actor, action="membership.leave_all", target=user_id, unit_id=unit_id,
            details={"rooms_left": left, "rooms_failed": failed})])
        return left
