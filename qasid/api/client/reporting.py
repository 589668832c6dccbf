"""Reporting content: events, rooms and users, to the admins of the reported official's unit."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, client_paths, empty, json_body, requester, route


@route("POST", *client_paths("/rooms/{roomId}/report/{eventId}"))
async def report_event(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}

    - `reason` (optional, at most 1000 characters) and the old `score` (-100 to 0) are kept.
    - 404 M_NOT_FOUND unless the reporter is joined and may see the event: the same answer for a
      missing room or event, a room they left or were banned from, and one they were never in.
    - Filed under the sender's unit, for its admins and the national admins; rate-limited.
    """
    who = await requester(request)
    body = await json_body(request)
    await government(request).reports.report_event(
        who, request.path_params["roomId"], request.path_params["eventId"], body, client_ip(request))
    return empty()


@route("POST", *client_paths("/rooms/{roomId}/report"))
async def report_room(request: Request) -> Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report

    - MSC4151. `reason` is required (it may be empty).
    - 404 M_NOT_FOUND unless the reporter is joined or invited (or the room is world_readable).
    - Filed under the room creator's unit; rate-limited.
    """
    who = await requester(request)
    body = await json_body(request)
    await government(request).reports.report_room(who, request.path_params["roomId"], body, client_ip(request))
    return empty()


@route("POST", *client_paths("/users/{userId}/report"))
async def report_user(request: Request) -> Response:
    """POST /_matrix/client/v3/users/{userId}/report

    - MSC4260. `reason` is required (it may be empty).
    - 404 M_NOT_FOUND for an unknown user and for one the reporter may not find in the directory
      and shares no room with; reporting oneself is 400 M_INVALID_PARAM.
    - Filed under the user's unit; rate-limited.
    """
    who = await requester(request)
    body = await json_body(request)
    await government(request).reports.report_user(who, request.path_params["userId"], body, client_ip(request))
    return empty()
