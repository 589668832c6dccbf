"""Creating rooms and listing the user's rooms."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route, services
from qasid.core.membership import create_room
from qasid.core.room_upgrade import upgrade_room
from qasid.core.suspension import refuse_if_suspended


@route("POST", *client_paths("/createRoom"))
async def post_create_room(request: Request) -> Response:
    """POST /_matrix/client/v3/createRoom

    - Sends create, the creator's join, power levels, alias, preset rules, initial_state, name,
      topic and invites, in the spec's order, each through the normal authorised append path.
    - Only room version 11; others are 400 M_UNSUPPORTED_ROOM_VERSION.
    """
    who = await requester(request)
    refuse_if_suspended(who, "create rooms")
    body = await json_body(request, allow_empty=True)
    room_id = await create_room(services(request).rooms, who.user_id, body)
    return json_response({"room_id": room_id})


@route("GET", *client_paths("/joined_rooms"))
async def joined_rooms(request: Request) -> Response:
    """GET /_matrix/client/v3/joined_rooms

    - The rooms the user is joined to now.
    """
    who = await requester(request)
    memberships = await services(request).store.events.memberships_of_user(who.user_id)
    return json_response({"joined_rooms": sorted(r for r, m, _, _ in memberships if m == "join")})


@route("POST", *client_paths("/rooms/{roomId}/upgrade"))
async def post_upgrade_room(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/upgrade

    - Only to room version 11 (400 M_UNSUPPORTED_ROOM_VERSION otherwise); needs the power to send
      m.room.tombstone (403), in a room the user is joined to (403 that reveals nothing otherwise).
    - The replacement names its predecessor and carries the name, topic, avatar, encryption, join
      rules, history visibility, guest access, power levels, server ACL, bans and the government's
      io.qasid.* state (its policy never weaker); invitations and memberships are not carried.
    - Local aliases and the canonical alias move; the old room gets the tombstone and power levels
      that let only moderators speak or invite. 400 M_BAD_STATE if it was already replaced.
    """
    who = await requester(request)
    refuse_if_suspended(who, "upgrade rooms")
    body = await json_body(request)
    new_room_id = await upgrade_room(services(request).rooms, who.user_id, request.path_params["roomId"], body)
    return json_response({"replacement_room": new_room_id})
