"""Typing notifications."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, optional, requester, require, route, services


@route("PUT", *client_paths("/rooms/{roomId}/typing/{userId}"))
async def set_typing(request: Request) -> Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}

    - Starts typing for `timeout` ms (default 30 s, at most 120 s) or stops it; kept in memory only.
    - Only for yourself (403 M_FORBIDDEN) and only in a room you are joined to (403 M_FORBIDDEN).
    - Wakes the room's joined members' syncs.
    """
    who = await requester(request)
    body = await json_body(request)
    typing = require(body, "typing", bool)
    timeout = optional(body, "timeout", int)
    params = request.path_params
    await services(request).userdata.set_typing(who.user_id, params["userId"], params["roomId"], typing, timeout)
    return empty()
