"""Who may preview a room they are not in, and what a preview shows (pure functions of room state).

The space hierarchy (`/hierarchy`) and the room summary (MSC3266) show a room to a user only
when the spec says the user may see or join it: a member or invitee, a room anyone may join or
knock on, a world_readable room, or a restricted room whose allowed rooms the user is joined
to. A banned user sees none of it. Everything else answers exactly as a missing room does.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from qasid.core.power_levels import PowerLevels

StateMap = Mapping[tuple[str, str], Mapping[str, Any]]

OPEN_JOIN_RULES = ("public", "knock", "knock_restricted")
RESTRICTED_JOIN_RULES = ("restricted", "knock_restricted")

# Why a user may preview a room: as its member (or invitee, or knocker), through a restricted
# rule's allowed rooms, or because the room is open to anyone (then the organisation's directory
# scope decides whether this user may discover it).
MEMBER, ALLOWED, OPEN = "member", "allowed", "open"
MEGOLM = "m.megolm.v1.aes-sha2"


def _content(state: StateMap, event_type: str, state_key: str = "") -> Mapping[str, Any]:
    event = state.get((event_type, state_key))
    content = event.get("content") if event else None
    return content if isinstance(content, Mapping) else {}


def join_rule(state: StateMap) -> str:
    """The room's join rule; a room without the event is `invite` (nobody may join unasked)."""
    rule = _content(state, "m.room.join_rules").get("join_rule")
    return rule if isinstance(rule, str) else "invite"


def membership_of(state: StateMap, user_id: str) -> str:
    """The user's current membership, `leave` when they have none."""
    membership = _content(state, "m.room.member", user_id).get("membership")
    return membership if isinstance(membership, str) else "leave"


def allowed_room_ids(state: StateMap) -> list[str]:
    """The rooms a restricted join rule lets members of join from (`m.room_membership` entries)."""
    if join_rule(state) not in RESTRICTED_JOIN_RULES:
        return []
    allow = _content(state, "m.room.join_rules").get("allow")
    if not isinstance(allow, list):
        return []
    found = [entry.get("room_id") for entry in allow
             if isinstance(entry, Mapping) and entry.get("type") == "m.room_membership"]
    return list(dict.fromkeys(r for r in found if isinstance(r, str)))


def preview_access(state: StateMap, user_id: str, joined_rooms: AbstractSet[str]) -> str | None:
    """Why `user_id` may see this room before joining it (MEMBER, ALLOWED or OPEN), or None."""
    membership = membership_of(state, user_id)
    if membership == "ban":
        return None
    if membership in ("join", "invite", "knock"):
        return MEMBER
    if set(allowed_room_ids(state)) & joined_rooms:
        return ALLOWED
    world_readable = _content(state, "m.room.history_visibility").get("history_visibility") == "world_readable"
    if join_rule(state) in OPEN_JOIN_RULES or world_readable:
        return OPEN
    return None


def summary(room_id: str, state: StateMap, joined_count: int) -> dict[str, Any]:
    """The room's public description: the spec's PublishedRoomsChunk fields that the state holds."""
    entry: dict[str, Any] = {
        "room_id": room_id,
        "num_joined_members": joined_count,
        "world_readable": _content(state, "m.room.history_visibility").get("history_visibility") == "world_readable",
        "guest_can_join": _content(state, "m.room.guest_access").get("guest_access") == "can_join",
        "join_rule": join_rule(state),
    }
    for event_type, key, field in (
        ("m.room.name", "name", "name"), ("m.room.topic", "topic", "topic"),
        ("m.room.canonical_alias", "alias", "canonical_alias"), ("m.room.avatar", "url", "avatar_url"),
    ):
        value = _content(state, event_type).get(key)
        if isinstance(value, str) and value:
            entry[field] = value
    room_type = _content(state, "m.room.create").get("type")
    if isinstance(room_type, str):
        entry["room_type"] = room_type
    return entry


def full_summary(room_id: str, state: StateMap, joined_count: int) -> dict[str, Any]:
    """`summary` with what MSC3266 and the hierarchy add: version, encryption, allowed rooms."""
    entry = summary(room_id, state, joined_count)
    version = _content(state, "m.room.create").get("room_version", "1")
    if isinstance(version, str):
        entry["room_version"] = version
    algorithm = _content(state, "m.room.encryption").get("algorithm")
    if algorithm == MEGOLM:  # the only value the spec's schema names
        entry["encryption"] = algorithm
    allowed = allowed_room_ids(state)
    if allowed:
        entry["allowed_room_ids"] = allowed
    return entry


def join_authorisers(state: StateMap, members: AbstractSet[str]) -> list[str]:
    """Joined members (of `members`) who may invite, most powerful first: those who can vouch for a
    restricted join in `join_authorised_via_users_server`, as the auth rules require."""
    create = state.get(("m.room.create", ""), {})
    levels = PowerLevels(state, create)
    needed = levels.level("invite")
    able = [user for user in members if membership_of(state, user) == "join" and levels.user_level(user) >= needed]
    return sorted(able, key=lambda user: (-levels.user_level(user), user))
