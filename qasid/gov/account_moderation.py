"""The spec's server administration (v1.18): locking and suspending accounts from a Matrix client.

They map onto qasid's own states, audited as the admin API's actions are:
- locked (the spec) is what qasid's admin API and CLI call *suspended*: every request is refused
  with 401 M_USER_LOCKED (account.suspend / account.unsuspend);
- suspended (the spec) is qasid's *read-only* state: the official reads, and every write is
  refused with 403 M_USER_SUSPENDED (account.read_only / account.read_only_lifted).
The spec gives these endpoints to server admins: here, national admins only (a unit admin uses
qasid's admin API, scoped to their units). Another admin's account is refused (403), as the spec says.
"""

from __future__ import annotations

from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.ids import parse_user_id
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.scope import AdminScope


class AccountModeration:
    """GET/PUT /admin/lock and /admin/suspend, for national admins."""

    def __init__(self, lifecycle: Lifecycle, server_name: str) -> None:
        self.lifecycle = lifecycle
        self.server_name = server_name

    @staticmethod
    def authorise(scope: AdminScope | None) -> AdminScope:
        """The caller's scope if they are a national admin; 403 for anyone else."""
        if scope is None or not scope.is_national:
            raise MatrixError(403, "M_FORBIDDEN", "Only a server administrator may lock or suspend accounts")
        return scope

    async def _target(self, scope: AdminScope | None, user_id: str) -> str:
        """The account to act on. The caller is checked before any lookup, so nothing is learnt without the right."""
        self.authorise(scope)
        _, server_name = parse_user_id(user_id)
        if server_name != self.server_name:
            raise MatrixError(400, "M_INVALID_PARAM", "User does not belong to this server")
        user = await self.lifecycle.accounts.store.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(404, "M_NOT_FOUND", "User not found")
        if user.is_admin:
            raise MatrixError(403, "M_FORBIDDEN", "Another server administrator can't be locked or suspended")
        return user_id

    async def locked(self, scope: AdminScope | None, user_id: str) -> bool:
        """Whether the account is locked (qasid: suspended)."""
        return self.lifecycle.store.is_locked(await self._target(scope, user_id))

    async def set_locked(self, scope: AdminScope | None, user_id: str, locked: Any) -> bool:
        """Lock or unlock the account; audited in the same transaction."""
        if not isinstance(locked, bool):
            raise MatrixError(400, "M_BAD_JSON", "locked must be true or false")
        target = await self._target(scope, user_id)
        assert scope is not None
        await self.lifecycle.set_suspended(scope, target, locked)
        return self.lifecycle.store.is_locked(target)

    async def suspended(self, scope: AdminScope | None, user_id: str) -> bool:
        """Whether the account is suspended in the spec's sense (qasid: read-only)."""
        return self.lifecycle.store.is_read_only(await self._target(scope, user_id))

    async def set_suspended(self, scope: AdminScope | None, user_id: str, suspended: Any) -> bool:
        """Suspend the account (read-only) or lift it; audited in the same transaction."""
        if not isinstance(suspended, bool):
            raise MatrixError(400, "M_BAD_JSON", "suspended must be true or false")
        target = await self._target(scope, user_id)
        assert scope is not None
        await self.lifecycle.set_read_only(scope, target, suspended)
        return self.lifecycle.store.is_read_only(target)
