"""Classification and clearance: the pure rules (levels, the marking in a room's name, what may change).

Levels come from the `classification_levels` setting, lowest first. A room's level is its
`io.qasid.classification` state (`{"level": "Secret"}`); a room without it is at the lowest level.
An official's clearance is set by their admin; anyone without one (new officials, accounts outside
the tree) holds the lowest level. A level the setting no longer names counts as above every level
for a room and as the lowest for a clearance: an unknown level never lets anyone in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CLASSIFICATION_EVENT = "io.qasid.classification"
# Join rules under which a join needs no invitation, and those that allow a knock.
OPEN_JOIN_RULES = ("public", "restricted", "knock_restricted")
KNOCK_JOIN_RULES = ("knock", "knock_restricted")
DEFAULT_LEVELS = ("Unrestricted", "Restricted", "Confidential", "Secret")
StateMap = Mapping[tuple[str, str], Mapping[str, Any]]


def room_level(room_state: StateMap) -> str | None:
    """The level a room's state names, if any."""
    pdu = room_state.get((CLASSIFICATION_EVENT, ""))
    level = pdu["content"].get("level") if pdu is not None else None
    return level if isinstance(level, str) else None


def room_rank(level: str | None, levels: Sequence[str]) -> int:
    """A room's place in `levels` (0 unmarked; an unknown level counts as above them all)."""
    if level is None:
        return 0
    return levels.index(level) if level in levels else len(levels)


def clearance_rank(level: str | None, levels: Sequence[str]) -> int:
    """A clearance's place in `levels` (none or an unknown level: the lowest)."""
    return levels.index(level) if level is not None and level in levels else 0


def marking(level: str) -> str:
    """How a level shows at the start of a room's name: `[SECRET]`."""
    return f"[{level.upper()}]"


def strip_markings(name: str, levels: Sequence[str]) -> str:
    """The name without any level markings at its start."""
    marks = [marking(level) for level in levels]
    rest = name.lstrip()
    while any(rest.startswith(mark) for mark in marks):
        mark = next(m for m in marks if rest.startswith(m))
        rest = rest[len(mark):].lstrip()
    return rest


def marked_name(name: str, level: str, levels: Sequence[str]) -> str:
    """The room name as it must read at `level`: the marking, then the rest (the lowest level is unmarked)."""
    if room_rank(level, levels) == 0:
        return name
    rest = strip_markings(name, levels)
    return f"{marking(level)} {rest}" if rest else marking(level)


def name_problem(content: Mapping[str, Any], level: str | None, levels: Sequence[str]) -> str | None:
    """Why an m.room.name content drops the marking of a room at `level`, or None."""
    if room_rank(level, levels) == 0 or level is None:
        return None
    name = content.get("name")
    mark = marking(level)
    if isinstance(name, str) and (name == mark or name.startswith(mark + " ")):
        return None
    return f"This room is classified {level}: its name must begin with {mark} (the server keeps the marking)"


def level_problem(content: Mapping[str, Any], levels: Sequence[str]) -> str | None:
    """Why an io.qasid.classification content is malformed, or None."""
    if set(content) != {"level"} or content["level"] not in levels:
        return f"{CLASSIFICATION_EVENT} must be {{\"level\": L}} with L one of {', '.join(levels)}"
    return None


def change_problem(current: str | None, new: str, sender_clearance: str | None, levels: Sequence[str]) -> str | None:
    """Why a (well-formed) change of a room's level from `current` to `new` by this sender is refused, or None."""
    if room_rank(new, levels) < room_rank(current, levels):
        return f"A room's classification can't be lowered (it is {current})"
    if room_rank(new, levels) > clearance_rank(sender_clearance, levels):
        return f"You can't classify a room {new}: your clearance is {sender_clearance or levels[0]}"
    return None


def cleared(clearance: str | None, level: str | None, levels: Sequence[str]) -> bool:
    """Whether a holder of `clearance` may be in a room at `level`."""
    return clearance_rank(clearance, levels) >= room_rank(level, levels)


def membership_of(room_state: StateMap, user_id: str) -> str:
    """The user's current membership ("leave" when none)."""
    pdu = room_state.get(("m.room.member", user_id))
    return str(pdu["content"].get("membership", "leave")) if pdu is not None else "leave"


def higher_level(a: str | None, b: str | None, levels: Sequence[str]) -> str | None:
    """The higher of two room levels (None: unmarked)."""
    return b if room_rank(b, levels) > room_rank(a, levels) else a


def level_guarding_entry(sender: str, room_state: StateMap, content: Mapping[str, Any], target: str,
                         levels: Sequence[str], floor: str | None = None) -> str | None:
    """The level `target` must be cleared to for this m.room.member change, or None when none applies.

    None for anything but entering (an invitation, a join, a knock) a marked room, for a profile
    change of a membership already held, and wherever the room's own rules refuse the change
    anyway: their refusal then answers, and tells a non-member nothing of the room's level.
    `floor` is a level the room holds whatever its state says (that of the room it replaces).
    """
    membership = content.get("membership")
    level = higher_level(room_level(room_state), floor, levels)
    if membership not in ("invite", "join", "knock") or room_rank(level, levels) == 0:
        return None
    current = membership_of(room_state, target)
    if current in (membership, "ban"):
        return None
    rules = room_state.get(("m.room.join_rules", ""))
    join_rule = rules["content"].get("join_rule") if rules is not None else "invite"
    if membership == "invite" and membership_of(room_state, sender) != "join":
        return None
    if membership == "join" and current != "invite" and join_rule not in OPEN_JOIN_RULES:
        return None
    if membership == "knock" and join_rule not in KNOCK_JOIN_RULES:
        return None
    return level
