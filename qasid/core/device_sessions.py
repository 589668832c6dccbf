"""Device sessions: the access token a login or registration issues, checked on every request,
ended by logout or by deleting the device."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from qasid.config import Settings
from qasid.core.audit_sink import AuditAppend, AuditSink, NullAuditSink
from qasid.core.clock import Clock, new_access_token, random_string
from qasid.core.errors import MatrixError
from qasid.store.sqlite.accounts import AccountStore

TOUCH_INTERVAL_MS = 60_000


@dataclass(frozen=True)
class Requester:
    """Who is making a request: the user, their device, and the token's hash."""

    user_id: str
    device_id: str
    is_admin: bool
    token_hash: bytes
    # Suspended in the spec's sense (v1.18): may read, and every write is refused (core/suspension.py).
    suspended: bool = False


class DeviceListener(Protocol):
    """Told when a user's devices change, so device-list streams and syncs learn of it."""

    def devices_changed(self, user_id: str) -> None: ...


def hash_token(token: str) -> bytes:
    """Access and registration tokens are stored and looked up only by this hash."""
    return hashlib.sha256(token.encode()).digest()


class DeviceSessions:
    """Issues, checks and ends devices' sessions; `AccountService` builds on this."""

    def __init__(
        self, settings: Settings, store: AccountStore, clock: Clock, device_listener: DeviceListener,
        audit: AuditSink | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.device_listener = device_listener
        self.audit: AuditSink = audit or NullAuditSink()
        self._last_touch: dict[tuple[str, str], int] = {}

    async def _new_session(
        self, user_id: str, device_id: str | None, display_name: str | None, ip: str, login: bool = False,
    ) -> dict[str, Any]:
        device_id = device_id or random_string(10).upper()
        token = new_access_token()
        # Logging in again as an existing device replaces its old session (the store drops its token).
        # The audit entries commit in the same transaction as the device and its token.
        added = self.audit.prepare(actor=user_id, actor_device=device_id, action="device.added", target=user_id,
                                   source_ip=ip, details={"device_id": device_id, "display_name": display_name})
        logged_in = [self.audit.prepare(actor=user_id, actor_device=device_id, action="login", target=user_id,
                                        source_ip=ip)] if login else []
        is_new = await self.store.add_device_with_token(
            user_id, device_id, display_name, hash_token(token), ip, self.clock.now_ms(),
            also_if_new=[added], also=logged_in)
        if is_new:
            self.device_listener.devices_changed(user_id)
        return {
            "user_id": user_id,
            "access_token": token,
            "device_id": device_id,
            "home_server": self.settings.server_name,
        }

    async def authenticate(self, token: str, ip: str, allow_locked: bool = False) -> Requester:
        """The requester behind an access token, or 401 M_UNKNOWN_TOKEN."""
        digest = hash_token(token)
        # Read from the store on every request (one indexed join), never cached: a token revoked,
        # an account suspended or offboarded by another process (the CLI) stops working on the
        # next request. The lookup is by the token's SHA-256, so its timing says nothing about
        # the token itself: no secret is ever compared byte by byte.
        session = await self.store.lookup_session(digest)
        if session is None or session.deactivated:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown access token", soft_logout=False)
        if session.locked and not allow_locked:
            # soft_logout, as the spec requires of a lock: clients keep their session and keys, and
            # carry on once it is lifted.
            raise MatrixError(401, "M_USER_LOCKED", "This account is locked", soft_logout=True)
        requester = Requester(session.user_id, session.device_id, session.is_admin, digest, session.read_only)
        await self._touch(requester, ip)
        return requester

    async def _touch(self, requester: Requester, ip: str) -> None:
        now = self.clock.now_ms()
        key = (requester.user_id, requester.device_id)
        if now - self._last_touch.get(key, 0) < TOUCH_INTERVAL_MS:
            return
        self._last_touch[key] = now
        await self.store.touch_device(requester.user_id, requester.device_id, ip, now)

    async def logout(self, requester: Requester, source_ip: str | None = None) -> None:
        """POST /logout: this device is signed out and deleted, with its keys."""
        await self.delete_devices(requester.user_id, [requester.device_id], source_ip=source_ip,
                                  reason="logout")

    async def logout_all(self, user_id: str, source_ip: str | None = None) -> None:
        """POST /logout/all: every device of the user."""
        devices = await self.store.list_devices(user_id)
        await self.delete_devices(user_id, [d.device_id for d in devices], source_ip=source_ip,
                                  reason="logout_all")

    async def delete_devices(
        self, user_id: str, device_ids: list[str], *, actor: str | None = None,
        source_ip: str | None = None, reason: str = "deleted", also: Sequence[AuditAppend] = (),
        also_after: Callable[[list[str]], Sequence[AuditAppend]] | None = None,
    ) -> list[str]:
        """Delete devices, their tokens and keys; other users' clients learn of the change.

        `actor` is who asked (the user themselves unless given, e.g. an admin); each removal is audited,
        and `also` (and `also_after(the devices deleted)`) recorded if any was deleted, in the deletion's
        own transaction.
        """
        def removed(device_id: str) -> AuditAppend:
            return self.audit.prepare(actor=actor or user_id, action="device.removed", target=user_id,
                                      source_ip=source_ip, details={"device_id": device_id, "reason": reason})

        deleted = await self.store.delete_devices(user_id, device_ids, also_each=removed, also=also,
                                                  also_after=also_after)
        if deleted:
            self.device_listener.devices_changed(user_id)
        return deleted
