"""Membership: join, invite, leave, kick, ban, unban, forget, and member lists."""

from __future__ import annotations

from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.client.messages import parse_position
from qasid.api.http import (
    client_paths,
    empty,
    json_body,
    json_response,
    optional,
    requester,
    require,
    route,
    services,
)
from qasid.core import membership
from qasid.core.errors import forbidden
from qasid.core.events import state_event
from qasid.core.suspension import refuse_if_suspended


@route("POST", *client_paths("/join/{roomIdOrAlias}"))
async def join_by_id_or_alias(request: Request) -> Response:
    """POST /_matrix/client/v3/join/{roomIdOrAlias}

    - Joins a room the user is invited to, or a public room; joining again changes nothing.
    """
    who = await requester(request)
    refuse_if_suspended(who, "join rooms")
    await json_body(request, allow_empty=True)
    room_id = await membership.join(services(request).rooms, who.user_id, request.path_params["roomIdOrAlias"])
    return json_response({"room_id": room_id})


@route("POST", *client_paths("/rooms/{roomId}/join"))
async def join_room(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/join

    - As /join/{roomIdOrAlias}, for a room ID.
    """
    who = await requester(request)
    refuse_if_suspended(who, "join rooms")
    await json_body(request, allow_empty=True)
    room_id = await membership.join(services(request).rooms, who.user_id, request.path_params["roomId"])
    return json_response({"room_id": room_id})


@route("POST", *client_paths("/knock/{roomIdOrAlias}"))
async def knock(request: Request) -> Response:
    """POST /_matrix/client/v3/knock/{roomIdOrAlias}

    - Asks to join a room whose join rule is knock or knock_restricted; `reason` goes on the knock.
    - Its members see the knock and let the user in with an invite (policy-checked like any
      invite) or refuse it with a kick; the knocker withdraws it with /leave.
    - 403 M_FORBIDDEN for a room that takes no knocks or while joined, invited or banned; a
      private room the user can't see is 404 M_NOT_FOUND, as a missing one. `via`/`server_name` are
      accepted and unused: every room is on this server.
    """
    who = await requester(request)
    refuse_if_suspended(who, "knock on rooms")
    body = await json_body(request, allow_empty=True)
    room_id = await membership.knock(services(request).rooms, who.user_id, request.path_params["roomIdOrAlias"],
                                     optional(body, "reason", str))
    return json_response({"room_id": room_id})


@route("POST", *client_paths("/rooms/{roomId}/invite"))
async def invite(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/invite

    - The inviter must be joined and have the invite power level; the policy may refuse (403).
    """
    who = await requester(request)
    refuse_if_suspended(who, "invite")
    body = await json_body(request)
    await membership.invite(
        services(request).rooms, who.user_id, request.path_params["roomId"], require(body, "user_id", str),
        reason=optional(body, "reason", str))
    return empty()


@route("POST", *client_paths("/rooms/{roomId}/leave"))
async def leave(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/leave

    - Leaves the room, or rejects an invitation.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    await membership.set_membership(
        services(request).rooms, who.user_id, request.path_params["roomId"], who.user_id, "leave",
        optional(body, "reason", str))
    return empty()


async def _moderate(request: Request, new_membership: str) -> Response:
    who = await requester(request)
    refuse_if_suspended(who, "moderate rooms")
    body = await json_body(request)
    await membership.set_membership(
        services(request).rooms, who.user_id, request.path_params["roomId"], require(body, "user_id", str),
        new_membership, optional(body, "reason", str))
    return empty()


@route("POST", *client_paths("/rooms/{roomId}/kick"))
async def kick(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/kick

    - Needs the kick power level and a level above the target's.
    - A banned user is refused with 403 M_FORBIDDEN: kicking them would lift the ban.
    """
    return await _moderate(request, "kick")


@route("POST", *client_paths("/rooms/{roomId}/ban"))
async def ban(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/ban

    - Needs the ban power level and a level above the target's.
    """
    return await _moderate(request, "ban")


@route("POST", *client_paths("/rooms/{roomId}/unban"))
async def unban(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/unban

    - Only a banned user can be unbanned; they are then 'leave'.
    """
    return await _moderate(request, "unban")


@route("POST", *client_paths("/rooms/{roomId}/forget"))
async def forget(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/forget

    - Only after leaving; the room then no longer shows in the user's syncs.
    """
    who = await requester(request)
    await json_body(request, allow_empty=True)
    await membership.forget(services(request).rooms, who.user_id, request.path_params["roomId"])
    return empty()


async def _visible_state_position(request: Request, room_id: str, user_id: str) -> int | None:
    """None for a current member (current state); the leave position for a past member; else 403."""
    rooms = services(request).rooms
    room = await rooms.snapshot(room_id)
    if room is not None and room.membership(user_id) == "join":
        return None
    memberships = await services(request).store.events.memberships_of_user(user_id)
    for other_room, state, stream_ordering, _ in memberships:
        # Only a past *member*: someone banned before joining, or who declined an invite, saw nothing.
        if other_room == room_id and state in ("leave", "ban") and await services(
                request).store.events.was_joined_before(room_id, user_id, stream_ordering):
            return stream_ordering
    raise forbidden("You are not a member of this room")


@route("GET", *client_paths("/rooms/{roomId}/members"))
async def members(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/members

    - Member events, optionally as of a sync token (`at`), filtered by membership / not_membership.
    - Only for members (or past members, as of when they left); others get 403.
    """
    who = await requester(request)
    room_id = request.path_params["roomId"]
    svc = services(request)
    position = await _visible_state_position(request, room_id, who.user_id)
    at = request.query_params.get("at")
    if at:
        at_position = parse_position(at)
        position = at_position if position is None else min(position, at_position)
    if position is None:
        rows = await svc.store.events.current_state(room_id)
    else:
        rows = await svc.store.events.state_at(room_id, position)
    wanted = request.query_params.get("membership")
    unwanted = request.query_params.get("not_membership")
    now = svc.clock.now_ms()
    chunk: list[dict[str, Any]] = []
    for row in rows:
        if row.pdu["type"] != "m.room.member":
            continue
        state = row.pdu["content"].get("membership")
        if (wanted and state != wanted) or (unwanted and state == unwanted):
            continue
        event = state_event(row, now)
        event["room_id"] = room_id
        chunk.append(event)
    return json_response({"chunk": chunk})


@route("GET", *client_paths("/rooms/{roomId}/joined_members"))
async def joined_members(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/joined_members

    - {"joined": {user_id: {display_name, avatar_url}}}, for joined members only.
    """
    who = await requester(request)
    room = await services(request).rooms.require_joined(request.path_params["roomId"], who.user_id)
    joined = {}
    for user_id in sorted(room.members("join")):
        content = room.state[("m.room.member", user_id)]["content"]
        joined[user_id] = {"display_name": content.get("displayname"), "avatar_url": content.get("avatar_url")}
    return json_response({"joined": joined})
