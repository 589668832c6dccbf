"""Room upgrades: a replacement room that carries the old one's state, and a tombstone in the old one.

Following the spec's "Server behaviour" for upgrades (and Synapse where the spec leaves room):
the upgrader needs the power to send m.room.tombstone; the new room's create event names its
predecessor; the recommended state is copied (with the upgrader's power raised in the new room
only while the copies are sent, then put back), bans go along, invitations and other memberships
do not; local aliases and the canonical alias move; the old room gets the tombstone and power
levels that stop ordinary members from speaking or inviting.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from qasid.core.clock import random_string
from qasid.core.errors import MatrixError, bad_json, forbidden, missing_param
from qasid.core.ids import check_room_id
from qasid.core.membership import SUPPORTED_ROOM_VERSIONS, member_profile
from qasid.core.power_levels import LEVEL_DEFAULTS, POWER_LEVELS, PowerLevels, as_int, mapping
from qasid.core.room_snapshot import RoomSnapshot
from qasid.core.rooms import RoomService

log = logging.getLogger(__name__)

TOMBSTONE = "m.room.tombstone"
CANONICAL_ALIAS = "m.room.canonical_alias"
# The state the spec recommends carrying over (power levels are handled on their own).
TRANSFERRED_STATE = (
    "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.name", "m.room.topic",
    "m.room.avatar", "m.room.encryption", "m.room.server_acl",
)
# Fields of the old create event that describe the room, not the event (MSC3818 type; m.federate).
CREATE_FIELDS_KEPT = ("type", "m.federate")


def restricted_levels(content: dict[str, Any]) -> dict[str, Any] | None:
    """The old room's power levels after the upgrade: events_default and invite raised to
    max(50, users_default + 1), as the spec suggests; None when they already are."""
    users_default = as_int(content.get("users_default"))
    floor = max(50, (users_default if users_default is not None else 0) + 1)
    changed = dict(content)
    for key in ("events_default", "invite"):
        value = as_int(content.get(key))
        if (LEVEL_DEFAULTS[key] if value is None else value) < floor:
            changed[key] = floor
    return changed if changed != content else None


def raised_levels(content: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    """The power levels with `user_id` raised to the highest level needed to copy the state over
    (state_default, ban, every event's level); None when they already have it."""
    levels = PowerLevels({(POWER_LEVELS, ""): {"content": content}}, {})
    events = [v for v in (as_int(x) for x in mapping(content.get("events")).values()) if v is not None]
    needed = max([levels.level("state_default"), levels.level("ban"), *events])
    if levels.user_level(user_id) >= needed:
        return None
    return {**content, "users": {**mapping(content.get("users")), user_id: needed}}


def split_canonical_alias(content: dict[str, Any], moved: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The canonical alias content for the new room (the moved aliases) and what the old one keeps."""
    new: dict[str, Any] = {}
    old = dict(content)
    if content.get("alias") in moved:
        new["alias"] = content["alias"]
        old.pop("alias")
    alt = content.get("alt_aliases")
    if isinstance(alt, list):
        new_alt = [a for a in alt if a in moved]
        if new_alt:
            new["alt_aliases"] = new_alt
        kept = [a for a in alt if a not in moved]
        if kept:
            old["alt_aliases"] = kept
        else:
            old.pop("alt_aliases")
    return new, old


async def upgrade_room(rooms: RoomService, upgrader: str, room_id: str, body: dict[str, Any]) -> str:
    """POST /rooms/{roomId}/upgrade: returns the replacement room's ID."""
    check_room_id(room_id)
    if "new_version" not in body:
        raise missing_param("new_version is required")
    version = body["new_version"]
    if not isinstance(version, str):
        raise bad_json("new_version must be a string")
    if version not in SUPPORTED_ROOM_VERSIONS:
        raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {version!r} is not supported")
    old = await rooms.require_joined(room_id, upgrader)
    levels = PowerLevels(old.state, old.state.get(("m.room.create", ""), {}))
    if levels.user_level(upgrader) < levels.send_level(TOMBSTONE, is_state=True):
        raise forbidden("You don't have permission to upgrade this room")
    if (TOMBSTONE, "") in old.state or room_id in rooms.upgrading:
        raise MatrixError(400, "M_BAD_STATE", "This room has already been replaced")
    rooms.ratelimiter.check("create_room", upgrader)
    rooms.upgrading.add(room_id)
    try:
        return await _upgrade(rooms, upgrader, old, version)
    finally:
        rooms.upgrading.discard(room_id)


async def _upgrade(rooms: RoomService, upgrader: str, old: RoomSnapshot, version: str) -> str:
    room_id = old.room_id
    old_levels = old.state.get((POWER_LEVELS, ""))
    restricted = restricted_levels(dict(old_levels["content"])) if old_levels else None
    old = copy.deepcopy(old)  # as it was before the upgrade: the room's own snapshot changes as events go in

    new_room_id = f"!{random_string(18)}:{rooms.settings.server_name}"
    await rooms.create_with_events(upgrader, new_room_id, version, None,
                                   await _replacement_events(rooms, upgrader, old, version))
    moved = set(await rooms.store.aliases.move_aliases(room_id, new_room_id))
    await rooms.append(upgrader, room_id, TOMBSTONE,
                       {"body": "This room has been replaced", "replacement_room": new_room_id}, state_key="")
    await _move_canonical_alias(rooms, upgrader, old, new_room_id, moved)
    if await rooms.store.userdata.room_published(room_id):
        await rooms.store.userdata.set_room_published(new_room_id, True)
        await rooms.store.userdata.set_room_published(room_id, False)
    if restricted is not None:
        try:
            await rooms.append(upgrader, room_id, POWER_LEVELS, restricted, state_key="")
        except MatrixError as error:  # the upgrade stands: the tombstone is already there
            log.warning("could not restrict power levels in upgraded room %s: %s", room_id, error.message)
    return new_room_id


async def _replacement_events(
    rooms: RoomService, upgrader: str, old: RoomSnapshot, version: str,
) -> list[tuple[str, str | None, dict[str, Any]]]:
    old_create = old.state.get(("m.room.create", ""), {}).get("content", {})
    creation: dict[str, Any] = {key: old_create[key] for key in CREATE_FIELDS_KEPT if key in old_create}
    creation.update(room_version=version, predecessor={"room_id": old.room_id, "event_id": old.latest_event_id})
    events: list[tuple[str, str | None, dict[str, Any]]] = [
        ("m.room.create", "", creation),
        ("m.room.member", upgrader, {"membership": "join", **await member_profile(rooms, upgrader)}),
    ]
    old_levels = old.state.get((POWER_LEVELS, ""))
    levels = copy.deepcopy(old_levels["content"]) if old_levels else None
    raised = raised_levels(levels, upgrader) if levels is not None else None
    if levels is not None:
        events.append((POWER_LEVELS, "", raised or levels))
    governed = {(t, k): c for t, k, c in await rooms.policy.upgrade_state(upgrader, old.state)}
    events += [(t, k, c) for (t, k), c in governed.items()]
    for event_type in TRANSFERRED_STATE:
        pdu = old.state.get((event_type, ""))
        if pdu is not None and (event_type, "") not in governed:
            events.append((event_type, "", copy.deepcopy(pdu["content"])))
    if old_create.get("type") == "m.space":
        events += [(t, k, copy.deepcopy(pdu["content"])) for (t, k), pdu in sorted(old.state.items())
                   if t == "m.space.child" and pdu["content"]]
    for banned in sorted(old.members("ban")):
        reason = old.state[("m.room.member", banned)]["content"].get("reason")
        events.append(("m.room.member", banned, {"membership": "ban", **({"reason": reason}
                                                                         if isinstance(reason, str) else {})}))
    if raised is not None and levels is not None:
        events.append((POWER_LEVELS, "", levels))
    return events


async def _move_canonical_alias(
    rooms: RoomService, upgrader: str, old: RoomSnapshot, new_room_id: str, moved: set[str],
) -> None:
    current = old.state.get((CANONICAL_ALIAS, ""))
    if current is None:
        return
    new, kept = split_canonical_alias(dict(current["content"]), moved)
    if new:
        await rooms.send_state(upgrader, new_room_id, CANONICAL_ALIAS, "", new)
    if kept != current["content"]:
        try:
            await rooms.send_state(upgrader, old.room_id, CANONICAL_ALIAS, "", kept)
        except MatrixError as error:
            log.warning("could not update the canonical alias of upgraded room %s: %s", old.room_id, error.message)
