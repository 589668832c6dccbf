"""Room state: read and write state events."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, delay_ms, json_body, json_response, requester, route, services
from qasid.core.errors import not_found
from qasid.core.events import state_event


def _state_key(request: Request) -> str:
    return str(request.path_params.get("stateKey", ""))


@route("GET", *client_paths("/rooms/{roomId}/state"))
async def get_state(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state

    - The current state events; only for joined members (403 otherwise).
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    await svc.rooms.require_joined(room_id, who.user_id)
    now = svc.clock.now_ms()
    events = []
    for row in await svc.store.events.current_state(room_id):
        event = state_event(row, now)
        event["room_id"] = room_id
        events.append(event)
    return json_response(events)


@route("GET", *client_paths("/rooms/{roomId}/state/{eventType}"),
       *client_paths("/rooms/{roomId}/state/{eventType}/{stateKey:path}"))
async def get_state_event(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    - The content of one state event; an empty state key with or without the trailing slash.
    - 404 M_NOT_FOUND when absent; 403 for non-members.
    """
    who = await requester(request)
    room = await services(request).rooms.require_joined(request.path_params["roomId"], who.user_id)
    pdu = room.state.get((request.path_params["eventType"], _state_key(request)))
    if pdu is None:
        raise not_found("Event not found")
    return json_response(pdu["content"])


@route("PUT", *client_paths("/rooms/{roomId}/state/{eventType}"),
       *client_paths("/rooms/{roomId}/state/{eventType}/{stateKey:path}"))
async def put_state_event(request: Request) -> Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    - Authorised by the room's power levels; a state key starting with '@' must be the sender.
    - Repeating the current content returns the current event ID and stores nothing.
    - With `org.matrix.msc4140.delay` (ms): stored and sent that much later, answered with a delay_id (MSC4140).
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    delay = delay_ms(request)
    content = await json_body(request)
    svc.ratelimiter.check("send", who.user_id)
    if delay is not None:
        return json_response({"delay_id": await svc.calls.schedule(
            who.user_id, who.device_id, room_id, request.path_params["eventType"], _state_key(request), content,
            delay)})
    await svc.rooms.require_joined(room_id, who.user_id)
    event_id = await svc.rooms.send_state(
        who.user_id, room_id, request.path_params["eventType"], _state_key(request), content)
    return json_response({"event_id": event_id})
