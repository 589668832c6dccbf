"""Room creation and membership changes, built on the append path of RoomService."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.clock import random_string
from qasid.core.errors import MatrixError, bad_json, forbidden, not_found
from qasid.core.ids import check_room_id, is_user_id
from qasid.core.jsonutil import check_canonical
from qasid.core.pdu import ROOM_VERSION
from qasid.core.power_levels import LEVEL_DEFAULTS, as_int, is_int_map
from qasid.core.room_preview import RESTRICTED_JOIN_RULES, allowed_room_ids, join_authorisers, join_rule
from qasid.core.room_snapshot import RoomSnapshot, check_event_fields
from qasid.core.rooms import RoomService

SUPPORTED_ROOM_VERSIONS = (ROOM_VERSION,)
PRESETS = {
    "private_chat": ("invite", "shared", "can_join"),
    "trusted_private_chat": ("invite", "shared", "can_join"),
    "public_chat": ("public", "shared", "forbidden"),
}
# The state an invitee sees before joining (the spec's recommended stripped state).
STRIPPED_STATE_TYPES = (
    "m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
    "m.room.canonical_alias", "m.room.encryption", "m.room.topic",
)


def default_power_levels(creator: str, invitees: list[str], preset: str) -> dict[str, Any]:
    """The spec's default power levels; trusted_private_chat makes invitees admins too."""
    users = {creator: 100}
    if preset == "trusted_private_chat":
        users.update({user: 100 for user in invitees})
    return {
        "users": users,
        "events": {
            "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
            "m.room.server_acl": 100, "m.room.encryption": 100,
        },
        **LEVEL_DEFAULTS,
        "notifications": {"room": 50},
    }


async def create_room(rooms: RoomService, creator: str, request: dict[str, Any]) -> str:
    """POST /createRoom: the events in the spec's order, each through the normal append path."""
    rooms.ratelimiter.check("create_room", creator)
    request = await rooms.policy.check_create_room(creator, request)
    version = request.get("room_version", ROOM_VERSION)
    if not isinstance(version, str) or version not in SUPPORTED_ROOM_VERSIONS:
        raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {version!r} is not supported")
    visibility = request.get("visibility", "private")
    if visibility not in ("private", "public"):
        raise bad_json("visibility must be 'private' or 'public'")
    preset = request.get("preset") or ("public_chat" if visibility == "public" else "private_chat")
    if not isinstance(preset, str) or preset not in PRESETS:  # a list would not even hash
        raise bad_json(f"Unknown preset {preset!r}")
    invitees = _list_of(request, "invite", str)
    for user_id in invitees:
        if not is_user_id(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", f"Not a valid user ID: {user_id!r}")
    initial_state = _list_of(request, "initial_state", dict)
    for item in initial_state:
        if not isinstance(item.get("type"), str) or not isinstance(item.get("content"), dict):
            raise bad_json("initial_state entries need a type and a content object")
        if not isinstance(item.get("state_key", ""), str):
            raise bad_json("initial_state state_key must be a string")
    creation_content = _object(request, "creation_content")
    override = _object(request, "power_level_content_override")
    for key in ("name", "topic", "room_alias_name"):
        if key in request and not isinstance(request[key], str):
            raise bad_json(f"{key} must be a string")
    if not isinstance(request.get("is_direct", False), bool):
        raise bad_json("is_direct must be a boolean")
    # Refused here, not midway: a content refused by the append path would leave half a room stored.
    for item in initial_state:
        check_event_fields(item["type"], item["content"], item.get("state_key", ""))
    check_canonical(creation_content, "creation_content")
    check_canonical(override, "power_level_content_override")
    _check_power_level_types(override)

    alias = None
    if request.get("room_alias_name"):
        alias = f"#{request['room_alias_name']}:{rooms.settings.server_name}"
        if await rooms.store.aliases.resolve_alias(alias) is not None:
            raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")

    invite_contents = []
    for user_id in invitees:
        target = await rooms.store.accounts.get_user(user_id)
        if target is None or target.deactivated:
            raise not_found(f"Unknown user {user_id}")
        content: dict[str, Any] = {"membership": "invite", **await member_profile(rooms, user_id)}
        if request.get("is_direct"):
            content["is_direct"] = True
        invite_contents.append((user_id, content))

    join_rule, history, guest = PRESETS[preset]
    creation = {**creation_content, "room_version": version}
    creation.pop("creator", None)
    power_levels = default_power_levels(creator, invitees, preset)
    power_levels.update(override)
    events: list[tuple[str, str | None, dict[str, Any]]] = [
        ("m.room.create", "", creation),
        ("m.room.member", creator, {"membership": "join", **await member_profile(rooms, creator)}),
        ("m.room.power_levels", "", power_levels),
    ]
    if alias is not None:
        events.append(("m.room.canonical_alias", "", {"alias": alias}))
    events += [
        ("m.room.join_rules", "", {"join_rule": join_rule}),
        ("m.room.history_visibility", "", {"history_visibility": history}),
        ("m.room.guest_access", "", {"guest_access": guest}),
    ]
    events += [(item["type"], item.get("state_key", ""), item["content"]) for item in initial_state]
    if request.get("name"):
        events.append(("m.room.name", "", {"name": request["name"]}))
    if request.get("topic"):
        events.append(("m.room.topic", "", {"topic": request["topic"]}))
    events += [("m.room.member", user_id, content) for user_id, content in invite_contents]

    room_id = f"!{random_string(18)}:{rooms.settings.server_name}"
    # All of it or none of it: a refused event leaves no half-made room behind.
    await rooms.create_with_events(creator, room_id, version, alias, events)
    if visibility == "public":
        await rooms.store.userdata.set_room_published(room_id, True)
    return room_id


async def member_profile(rooms: RoomService, user_id: str) -> dict[str, Any]:
    """displayname and avatar_url for a member event's content."""
    user = await rooms.store.accounts.get_user(user_id)
    profile: dict[str, Any] = {}
    if user is not None and user.displayname is not None:
        profile["displayname"] = user.displayname
    if user is not None and user.avatar_url is not None:
        profile["avatar_url"] = user.avatar_url
    return profile


async def resolve_room(rooms: RoomService, room_id_or_alias: str) -> str:
    """A room ID from a room ID or a local alias."""
    if room_id_or_alias.startswith("#"):
        room_id = await rooms.store.aliases.resolve_alias(room_id_or_alias)
        if room_id is None:
            raise not_found("Unknown room alias")
        return room_id
    return check_room_id(room_id_or_alias)


async def join(rooms: RoomService, user_id: str, room_id_or_alias: str) -> str:
    """Join a room the user is invited to, a public one, or a restricted one through a room it allows."""
    rooms.ratelimiter.check("join", user_id)
    room_id = await resolve_room(rooms, room_id_or_alias)
    room = await rooms.snapshot(room_id)
    if room is None:
        raise not_found("Unknown room")
    content: dict[str, Any] = {"membership": "join", **await member_profile(rooms, user_id)}
    if room.membership(user_id) not in ("join", "invite") and join_rule(room.state) in RESTRICTED_JOIN_RULES:
        content = await _restricted_join_content(rooms, room, user_id, content)
    await rooms.send_state(user_id, room_id, "m.room.member", user_id, content)
    return room_id


async def _restricted_join_content(
    rooms: RoomService, room: RoomSnapshot, user_id: str, content: dict[str, Any],
) -> dict[str, Any]:
    """The join's content naming a member who vouches for it (`join_authorised_via_users_server`).

    Refused (403) when the user is joined to none of the rooms the join rule allows. The vouching
    member is one the organisation's policy would let invite this user: a restricted join lets
    someone in just as an invitation does.
    """
    allowed = allowed_room_ids(room.state)
    if not any(room_id in allowed for room_id in await joined_rooms(rooms, user_id)):
        knock = " (you may knock instead)" if join_rule(room.state) == "knock_restricted" else ""
        raise forbidden("You are not a member of any room whose members this room lets join" + knock)
    # What the policy says of the joiner alone (a clearance below the room's level, say) is said as
    # such, before any member is asked to vouch.
    await rooms.policy.check_event(user_id, room.state, "m.room.member", content, user_id)
    refusal: MatrixError | None = None
    for authoriser in join_authorisers(room.state, room.members("join")):
        vouched = {**content, "join_authorised_via_users_server": authoriser}
        try:
            await rooms.policy.check_event(user_id, room.state, "m.room.member", vouched, user_id)
        except MatrixError as error:
            refusal = error
            continue
        return vouched
    if refusal is not None:
        raise forbidden("No member of this room may let you in under your organisation's invitation policy")
    raise MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No member of this room is able to let you in")


async def joined_rooms(rooms: RoomService, user_id: str) -> list[str]:
    """The rooms the user is joined to now."""
    return [room_id for room_id in await rooms.rooms_of(user_id) if await rooms.is_joined(room_id, user_id)]


async def knock(rooms: RoomService, user_id: str, room_id_or_alias: str, reason: str | None) -> str:
    """Ask to join a room whose join rule is knock or knock_restricted; its members let the user in by
    inviting them. A repeated knock with the same reason changes nothing."""
    rooms.ratelimiter.check("join", user_id)
    room_id = await resolve_room(rooms, room_id_or_alias)
    room = await rooms.snapshot(room_id)
    if room is None:
        raise not_found("Unknown room")
    if join_rule(room.state) not in ("knock", "knock_restricted"):
        # Said as a missing room would be, unless the user may see the room: no oracle of private rooms.
        if not _knows_room(room, user_id):
            raise not_found("Unknown room")
        raise forbidden("This room does not accept knocks")
    current = room.membership(user_id)
    if current in ("join", "invite", "ban"):
        raise forbidden(f"You cannot knock while your membership is {current!r}")
    content: dict[str, Any] = {"membership": "knock", **await member_profile(rooms, user_id)}
    if reason:
        content["reason"] = reason
    await rooms.send_state(user_id, room_id, "m.room.member", user_id, content)
    return room_id


def _knows_room(room: RoomSnapshot, user_id: str) -> bool:
    """Whether the user may see the room exists: a member or invitee, or it is open to previews."""
    if room.membership(user_id) in ("join", "invite"):
        return True
    return join_rule(room.state) == "public" or room.state.get(("m.room.history_visibility", ""), {}).get(
        "content", {}).get("history_visibility") == "world_readable"


async def invite(
    rooms: RoomService, inviter: str, room_id: str, invitee: str, reason: str | None = None,
    is_direct: bool = False,
) -> None:
    """Invite a local user; the policy may refuse it."""
    rooms.ratelimiter.check("invite", inviter)
    if not is_user_id(invitee):
        raise MatrixError(400, "M_INVALID_PARAM", "Not a valid user ID")
    room = await rooms.require_joined(room_id, inviter)
    target = await rooms.store.accounts.get_user(invitee)
    if target is None or target.deactivated:
        raise not_found("Unknown user")
    if room.membership(invitee) in ("join", "invite"):
        raise forbidden(f"{invitee} is already {room.membership(invitee)}ed" if room.membership(invitee) == "join"
                        else f"{invitee} is already invited")
    content: dict[str, Any] = {"membership": "invite", **await member_profile(rooms, invitee)}
    if is_direct:
        content["is_direct"] = True
    if reason:
        content["reason"] = reason
    await rooms.append(inviter, room_id, "m.room.member", content, state_key=invitee)


async def set_membership(
    rooms: RoomService, actor: str, room_id: str, target: str, membership: str, reason: str | None = None,
    also: Sequence[AuditAppend] = (),
) -> bool:
    """leave (yourself), kick (leave of another), ban and unban (leave after ban); False if nothing changed.

    `also` (an audit entry) commits with the membership event, and only if one is sent."""
    if not is_user_id(target):
        raise MatrixError(400, "M_INVALID_PARAM", "Not a valid user ID")
    room = await rooms.snapshot(room_id)
    if room is None:
        raise forbidden("You are not a member of this room") if actor == target else not_found("Unknown room")
    current = room.membership(target)
    if membership == "kick":
        # A kick of a banned user would lift the ban (both are a 'leave'): only /unban does that.
        if current == "ban":
            raise forbidden(f"{target} is banned from this room; unban them instead")
        membership = "leave"
    if membership == "leave" and actor == target and current == "leave":
        return False  # leaving a room you have already left changes nothing
    if actor != target and membership == "leave" and current not in ("join", "invite", "knock", "ban"):
        raise forbidden(f"{target} is not in this room")
    if membership == "unban":
        if current != "ban":
            raise forbidden(f"{target} is not banned")
        membership = "leave"
    content: dict[str, Any] = {"membership": membership}
    if reason:
        content["reason"] = reason
    await rooms.append(actor, room_id, "m.room.member", content, state_key=target, also=also)
    return True


async def forget(rooms: RoomService, user_id: str, room_id: str) -> None:
    """Forget a room the user has left."""
    room = await rooms.snapshot(room_id)
    if room is None:
        raise not_found("Unknown room")
    if room.membership(user_id) in ("join", "invite"):
        raise MatrixError(400, "M_UNKNOWN", "Leave the room before forgetting it")
    await rooms.store.events.forget(room_id, user_id)


async def set_own_member_state(rooms: RoomService, user_id: str, room_id: str, content: dict[str, Any]) -> str:
    """PUT /state/m.room.member/{own ID} by a user not joined: a join acts as /join does (the join
    rules and the policy decide, the profile fills what the client left out); others as leave."""
    room = await rooms.snapshot(room_id)
    if room is None:
        raise forbidden("You are not a member of this room")
    if content.get("membership") == "join":
        rooms.ratelimiter.check("join", user_id)
        content = {**await member_profile(rooms, user_id), **content}
    return await rooms.send_state(user_id, room_id, "m.room.member", user_id, content)


def stripped_state(room: RoomSnapshot, invitee: str) -> list[dict[str, Any]]:
    """What an invitee may see of a room before joining."""
    keys = [(t, "") for t in STRIPPED_STATE_TYPES] + [("m.room.member", invitee)]
    out = []
    for key in keys:
        pdu = room.state.get(key)
        if pdu is not None:
            out.append({"type": pdu["type"], "state_key": pdu["state_key"], "sender": pdu["sender"],
                        "content": pdu["content"]})
    return out


def _check_power_level_types(override: dict[str, Any]) -> None:
    """Power levels are integers (room v10+): say so as a bad request, before any event is built."""
    for key, value in override.items():
        if key in ("users", "events", "notifications") and not is_int_map(value):
            raise bad_json(f"power_level_content_override.{key} must map to integers")
        if key in LEVEL_DEFAULTS and as_int(value) is None:
            raise bad_json(f"power_level_content_override.{key} must be an integer")


def _list_of(request: dict[str, Any], key: str, kind: type) -> list[Any]:
    value = request.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise bad_json(f"{key} must be a list")
    return value


def _object(request: dict[str, Any], key: str) -> dict[str, Any]:
    value = request.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_json(f"{key} must be an object")
    return value
