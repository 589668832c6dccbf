"""Power levels: the spec's defaults and reading a room's levels with them filled in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POWER_LEVELS = "m.room.power_levels"
StateKey = tuple[str, str]

# Used when a key, or the whole m.room.power_levels event, is absent.
LEVEL_DEFAULTS = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "ban": 50,
    "kick": 50,
    "redact": 50,
    "invite": 0,
}
LEVEL_KEYS = tuple(LEVEL_DEFAULTS)


class PowerLevels:
    """The room's power levels with the spec's defaults filled in."""

    def __init__(self, auth_state: Mapping[StateKey, Mapping[str, Any]], create: Mapping[str, Any]) -> None:
        event = auth_state.get((POWER_LEVELS, ""))
        self._exists = event is not None
        self._content = content_of(event) if event is not None else {}
        self._creator = create.get("sender")

    def level(self, name: str) -> int:
        """A named level (ban, kick, redact, invite, *_default)."""
        value = as_int(self._content.get(name))
        return LEVEL_DEFAULTS[name] if value is None else value

    def user_level(self, user_id: str) -> int:
        """The user's level; without a power levels event the creator has 100 and everyone else 0."""
        if not self._exists:
            # v11: the creator is the create event's sender.
            return 100 if user_id == self._creator else 0
        value = as_int(mapping(self._content.get("users")).get(user_id))
        return self.level("users_default") if value is None else value

    def send_level(self, event_type: str, *, is_state: bool) -> int:
        """The level needed to send an event of this type."""
        value = as_int(mapping(self._content.get("events")).get(event_type))
        if value is not None:
            return value
        return self.level("state_default" if is_state else "events_default")


def content_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event's content, or {} if it isn't an object."""
    content = event.get("content")
    return content if isinstance(content, Mapping) else {}


def mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is an object, else {}."""
    return value if isinstance(value, Mapping) else {}


def as_int(value: Any) -> int | None:
    """The value if it is a JSON integer (true/false arrive as bool, which Python counts as int)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def is_int_map(value: Any) -> bool:
    """An object whose values are all integers."""
    return isinstance(value, Mapping) and all(as_int(level) is not None for level in value.values())
