"""Invite blocking (spec v1.18, MSC4380): a user who sets `block_all` in m.invite_permission_config gets no invitations.

Refused with 403 M_INVITE_BLOCKED wherever an invitation is made (/invite, createRoom's invite
list, a PUT of the member state); invitations already pending are left out of /sync and sliding
sync while the setting stands. The server's own account (directives) is exempt: a directive is
the government's, not a stranger's, and its recipients are added, not asked.
"""

from __future__ import annotations

from typing import Any, Protocol

from qasid.core.errors import MatrixError

INVITE_PERMISSION_CONFIG = "m.invite_permission_config"
UNSTABLE_INVITE_PERMISSION_CONFIG = "org.matrix.msc4380.invite_permission_config"
GLOBAL = ""


class AccountDataReader(Protocol):
    """The one store read this needs."""

    async def get_account_data(self, user_id: str, room_id: str, type_: str) -> dict[str, Any] | None: ...


def blocks_all(content: dict[str, Any] | None) -> bool:
    """Only `block_all: true` blocks; any other value, or none, lets invitations through."""
    return isinstance(content, dict) and content.get("block_all") is True


async def invites_blocked(store: AccountDataReader, user_id: str) -> bool:
    """Whether the user blocks every invitation (the stable type, or the unstable one clients used first)."""
    for type_ in (INVITE_PERMISSION_CONFIG, UNSTABLE_INVITE_PERMISSION_CONFIG):
        if blocks_all(await store.get_account_data(user_id, GLOBAL, type_)):
            return True
    return False


def is_invitation(sender: str, event_type: str, content: dict[str, Any], state_key: str | None) -> bool:
    """An m.room.member invite of someone other than the sender."""
    return event_type == "m.room.member" and content.get("membership") == "invite" \
        and state_key is not None and state_key != sender


async def check_invitation(store: AccountDataReader, sender: str, event_type: str, content: dict[str, Any],
                           state_key: str | None, exempt: frozenset[str]) -> None:
    """403 M_INVITE_BLOCKED for an invitation to a user who blocks them all."""
    if sender in exempt or not is_invitation(sender, event_type, content, state_key):
        return
    assert state_key is not None
    if await invites_blocked(store, state_key):
        raise MatrixError(403, "M_INVITE_BLOCKED", f"{state_key} does not accept invitations")
