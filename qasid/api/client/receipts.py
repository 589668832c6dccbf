"""Receipts and read markers."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, optional, requester, route, services
from qasid.core.errors import bad_json


@route("POST", *client_paths("/rooms/{roomId}/receipt/{receiptType}/{eventId}"))
async def post_receipt(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}

    - m.read and m.read.private are receipts (private ones reach only their owner);
      m.fully_read moves the room's read marker (room account data).
    - Optional thread_id ("main" or a thread root's event ID); refused on m.fully_read.
    - 403 M_FORBIDDEN unless joined; 404 M_NOT_FOUND for an event not in the room.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    params = request.path_params
    await services(request).userdata.set_receipt(
        who.user_id, params["roomId"], params["receiptType"], params["eventId"],
        optional(body, "thread_id", str))
    return empty()


@route("POST", *client_paths("/rooms/{roomId}/read_markers"))
async def set_read_markers(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/read_markers

    - m.fully_read goes to room account data; m.read and m.read.private become receipts.
    - 403 M_FORBIDDEN unless joined.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    markers: dict[str, str] = {}
    for key in ("m.fully_read", "m.read", "m.read.private"):
        value = optional(body, key, str)
        if value is not None:
            markers[key] = value
    if not markers and body:
        raise bad_json("Give at least one of m.fully_read, m.read, m.read.private")
    await services(request).userdata.set_read_markers(who.user_id, request.path_params["roomId"], markers)
    return empty()
