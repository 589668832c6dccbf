"""Which state a sliding sync client asked for: `[type, state_key]` patterns, pure.

`"*"` matches any type or any state key, `"$ME"` the user's own ID, and `["m.room.member",
"$LAZY"]` asks for the members the timeline needs (its senders and targets) instead of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WILDCARD = "*"
ME = "$ME"
LAZY = "$LAZY"
MEMBER = "m.room.member"
MAX_ENTRIES = 100
MAX_CHARS = 255


@dataclass(frozen=True)
class RequiredState:
    """A set of (type, state_key) patterns."""

    patterns: frozenset[tuple[str, str]] = frozenset()

    def matches(self, event_type: str, state_key: str, user_id: str) -> bool:
        """Whether the state event (type, state_key) is asked for (members via $LAZY aside)."""
        for want_type, want_key in self.patterns:
            if want_type not in (WILDCARD, event_type):
                continue
            if want_key in (WILDCARD, state_key) or (want_key == ME and state_key == user_id):
                return True
        return False

    @property
    def lazy_members(self) -> bool:
        """True when members are to be sent as the timeline needs them."""
        return (MEMBER, LAZY) in self.patterns

    @property
    def is_empty(self) -> bool:
        """True when no state at all is asked for."""
        return not self.patterns

    def union(self, other: RequiredState) -> RequiredState:
        """What either asks for."""
        return RequiredState(self.patterns | other.patterns)

    def added_since(self, before: RequiredState) -> RequiredState:
        """The patterns asked for now that were not asked for before (an expansion)."""
        return RequiredState(self.patterns - before.patterns)


def parse_required_state(value: Any) -> RequiredState:
    """Patterns from the request; ValueError saying what is wrong."""
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise ValueError(f"must be a list of at most {MAX_ENTRIES} [type, state_key] pairs")
    patterns = set()
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(part, str) and len(part) <= MAX_CHARS for part in pair)):
            raise ValueError("each entry is a [type, state_key] pair of strings")
        patterns.add((pair[0], pair[1]))
    return RequiredState(frozenset(patterns))
