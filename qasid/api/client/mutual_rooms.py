"""Mutual rooms (spec v1.19): the rooms the caller shares with another user."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, requester, route, services
from qasid.core.mutual_rooms import mutual_rooms


@route("GET", "/_matrix/client/v1/mutual_rooms", "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms")
async def get_mutual_rooms(request: Request) -> Response:
    """GET /_matrix/client/v1/mutual_rooms?user_id=&from=

    - Rooms both the caller and user_id are joined to now (not invited, left or banned), sorted by
      room ID, 100 a page; `count` is the total, `next_batch` the token for the next page.
    - An unknown user shares no rooms (an empty list, not an error): no account oracle.
    - 400 M_MISSING_PARAM without user_id; M_INVALID_PARAM for a malformed one, one's own, or a
      `from` this endpoint didn't give.
    """
    who = await requester(request)
    params = request.query_params
    return json_response(await mutual_rooms(services(request).rooms, who.user_id, params.get("user_id"),
                                            params.get("from")))
