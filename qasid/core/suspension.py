"""Account suspension as the spec defines it (v1.18): a suspended account reads but does not write.

A suspended official may still sign in, sync, read history, manage their devices, keys and key
backup, leave rooms, reject invitations and redact their own events. Every other write is refused
with 403 M_USER_SUSPENDED: sending, joining, knocking, inviting, moderating others, creating or
upgrading rooms, changing their profile, room aliases and directory listings, uploading media.
(A locked account is refused everything with 401 M_USER_LOCKED, in core/accounts.py.)
"""

from __future__ import annotations

from typing import Any

from qasid.core.device_sessions import Requester
from qasid.core.errors import MatrixError
from qasid.core.rooms import RoomService

# MatrixRTC's call membership: a delayed event empties it when a device vanishes (core/calls.py).
CALL_MEMBER_TYPES = frozenset({"org.matrix.msc3401.call.member", "m.call.member"})


def suspended_error(action: str) -> MatrixError:
    """The spec's refusal of a write by a suspended account."""
    return MatrixError(403, "M_USER_SUSPENDED", f"Your account is suspended: you can't {action}")


def refuse_if_suspended(requester: Requester, action: str) -> None:
    """403 M_USER_SUSPENDED when the requester's account is suspended."""
    if requester.suspended:
        raise suspended_error(action)


def allowed_while_suspended(user_id: str, event_type: str, content: dict[str, Any], state_key: str | None,
                            redacted_sender: str | None) -> bool:
    """The events a suspended account may still send: leaving (or refusing) a room, redacting its own events."""
    if event_type == "m.room.member":
        return state_key == user_id and content.get("membership") == "leave"
    if event_type == "m.room.redaction":
        return redacted_sender == user_id
    return False


def delayed_allowed_while_suspended(event_type: str, state_key: str | None, content: dict[str, Any]) -> bool:
    """A delayed event scheduled before the suspension still fires only if it ends a call membership."""
    return state_key is not None and event_type in CALL_MEMBER_TYPES and content == {}


async def check_event_while_suspended(
    rooms: RoomService, requester: Requester, event_type: str, content: dict[str, Any],
    state_key: str | None = None, redacts: str | None = None,
) -> None:
    """Refuse an event a suspended account may not send (nothing for an account that isn't suspended)."""
    if not requester.suspended:
        return
    redacted_sender = None
    if event_type == "m.room.redaction":
        target = redacts if redacts is not None else content.get("redacts")
        found = await rooms.store.events.get_event(target) if isinstance(target, str) else None
        redacted_sender = found.pdu.get("sender") if found is not None else None
    if not allowed_while_suspended(requester.user_id, event_type, content, state_key, redacted_sender):
        raise suspended_error("send this event")
