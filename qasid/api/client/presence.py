"""Presence: stored per user; not yet sent through /sync."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
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


@route("GET", *client_paths("/presence/{userId}/status"))
async def get_presence(request: Request) -> Response:
    """GET /_matrix/client/v3/presence/{userId}/status

    - {presence, last_active_ago?, status_msg?, currently_active?}; "offline" if never set.
    - 404 M_NOT_FOUND for an unknown user.
    - 403 M_FORBIDDEN for a user you share no room with and your unit's directory scope
      does not reach, whether or not the account exists.
    """
    who = await requester(request)
    return json_response(await services(request).userdata.get_presence(who.user_id, request.path_params["userId"]))


@route("PUT", *client_paths("/presence/{userId}/status"))
async def set_presence(request: Request) -> Response:
    """PUT /_matrix/client/v3/presence/{userId}/status

    - presence is online, offline or unavailable; status_msg optional.
    - Only your own presence: 403 M_FORBIDDEN otherwise.
    """
    who = await requester(request)
    body = await json_body(request)
    await services(request).presence.set_presence(
        who.user_id, request.path_params["userId"], require(body, "presence", str),
        optional(body, "status_msg", str))
    return empty()
