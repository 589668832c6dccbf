"""Creating rooms and listing the user's rooms."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route, services
from qasid.core.membership import create_room


@route("POST", *client_paths("/createRoom"))
async def post_create_room(request: Request) -> Response:
    """POST /_matrix/client/v3/createRoom

    - Sends create, the creator's join, power levels, alias, preset rules, initial_state, name,
      topic and invites, in the spec's order, each through the normal authorised append path.
    - Only room version 11; others are 400 M_UNSUPPORTED_ROOM_VERSION.
    """
    who = await requester(request)
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
