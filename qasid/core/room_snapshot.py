"""A room's current state as this process holds it, and the bounds every event honours."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qasid.core import jsonutil
from qasid.core.errors import MatrixError

MAX_ID_FIELD_BYTES = 255

StateKey = tuple[str, str]


@dataclass
class RoomSnapshot:
    """A room's current state, its latest event and depth: all an append needs."""

    room_id: str
    state: dict[StateKey, dict[str, Any]] = field(default_factory=dict)
    state_ids: dict[StateKey, str] = field(default_factory=dict)
    latest_event_id: str | None = None
    depth: int = 0
    # membership -> users, kept in step with the member events in `state` by `set_state`
    _by_membership: dict[str, set[str]] = field(default_factory=dict)
    # What a room list filters and shows, kept by `set_state`: read for every room of a user's
    # list (an official's phone asks for hundreds of rooms in its first sliding sync).
    encrypted: bool = False
    room_type: str | None = None  # m.room.create's `type` (m.space, ...)
    name: str | None = None

    def set_state(self, key: StateKey, pdu: dict[str, Any], event_id: str) -> None:
        """Make `pdu` the room's current state at `key`; the only way state changes."""
        content = pdu["content"]
        if key[0] == "m.room.member":
            for users in self._by_membership.values():
                users.discard(key[1])
            self._by_membership.setdefault(str(content.get("membership")), set()).add(key[1])
        elif key == ("m.room.encryption", ""):
            self.encrypted = True
        elif key == ("m.room.create", ""):
            self.room_type = _text(content, "type")
        elif key == ("m.room.name", ""):
            self.name = _text(content, "name")
        self.state[key] = pdu
        self.state_ids[key] = event_id

    def membership(self, user_id: str) -> str:
        member = self.state.get(("m.room.member", user_id))
        return str(member["content"].get("membership", "leave")) if member else "leave"

    def members(self, *memberships: str) -> set[str]:
        """Users whose current membership is one of these (a new set, the caller's to change)."""
        return set().union(*(self._by_membership.get(m, ()) for m in memberships))


def _text(content: Any, key: str) -> str | None:
    value = content.get(key) if isinstance(content, dict) else None
    return value if isinstance(value, str) else None


def check_event_fields(event_type: str, content: dict[str, Any], state_key: str | None) -> None:
    """Bounds every event honours before any work is spent on it."""
    if not event_type or len(event_type.encode()) > MAX_ID_FIELD_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", "Event type must be 1 to 255 bytes")
    if state_key is not None and len(state_key.encode()) > MAX_ID_FIELD_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", "State key must be at most 255 bytes")
    if not isinstance(content, dict):
        raise MatrixError(400, "M_BAD_JSON", "Event content must be a JSON object")
    jsonutil.check_canonical(content)
