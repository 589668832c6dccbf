"""Server-side search, and finding an event by time."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route, services
from qasid.core.errors import MatrixError, not_found


@route("POST", *client_paths("/search"))
async def search(request: Request) -> Response:
    """POST /_matrix/client/v3/search

    - Only `room_events`, over plaintext message bodies, room names and topics (encrypted
      messages are never indexed: clients search those themselves).
    - search_term, keys, filter (its limit: at most 50 a page), order_by rank|recent,
      event_context, include_state, groupings (room_id, sender); `next_batch` pages on.
    - Only events the user may see under history visibility; rooms they were never in are not searched.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await services(request).search.search(
        (who.user_id, who.device_id), body, request.query_params.get("next_batch")))


@route("GET", "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event")
async def timestamp_to_event(request: Request) -> Response:
    """GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event

    - The visible event closest to `ts` (ms) in direction `dir` (f: at or after, b: at or before).
    - 404 M_NOT_FOUND when there is none, and alike for a room the user may not read (no oracle).
    """
    who = await requester(request)
    svc = services(request)
    raw_ts, direction = request.query_params.get("ts"), request.query_params.get("dir")
    if raw_ts is None or direction is None:
        raise MatrixError(400, "M_MISSING_PARAM", "ts and dir are required")
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 15):
        raise MatrixError(400, "M_INVALID_PARAM", "ts must be a timestamp in milliseconds")
    if direction not in ("f", "b"):
        raise MatrixError(400, "M_INVALID_PARAM", "dir must be 'f' or 'b'")
    found = await svc.visibility.event_near(request.path_params["roomId"], who.user_id, int(raw_ts), direction == "f")
    if found is None:
        raise not_found(f"Unable to find an event from {raw_ts} in direction {direction}")
    return json_response({"event_id": found.event_id, "origin_server_ts": found.pdu["origin_server_ts"]})
