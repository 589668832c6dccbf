"""Room state: read and write state events."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, delay_ms, json_body, json_response, requester, route, services
from qasid.core import membership
from qasid.core.errors import invalid_param, not_found
from qasid.core.events import state_event
from qasid.core.suspension import check_event_while_suspended


def _state_key(request: Request) -> str:
    return str(request.path_params.get("stateKey", ""))


@route("GET", *client_paths("/rooms/{roomId}/state"))
async def get_state(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state

    - The current state events for a joined member; for a former member, the state as it was
      when they left; 403 for anyone else (unless the room is world_readable).
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    now = svc.clock.now_ms()
    rows = await svc.visibility.readable_state(room_id, who.user_id)
    return json_response([dict(state_event(row, now), room_id=room_id) for row in rows])


@route("GET", *client_paths("/rooms/{roomId}/state/{eventType}"),
       *client_paths("/rooms/{roomId}/state/{eventType}/{stateKey:path}"))
async def get_state_event(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    - The content of one state event (the whole event with ?format=event); an empty state key
      with or without the trailing slash.
    - Read from the state /state gives: current, or as at leaving for a former member.
    - 404 M_NOT_FOUND when absent; 403 for non-members.
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    event_format = request.query_params.get("format", "content")
    if event_format not in ("content", "event"):
        raise invalid_param("format must be 'content' or 'event'")
    key = (request.path_params["eventType"], _state_key(request))
    row = await svc.visibility.readable_state_event(room_id, who.user_id, key)
    if row is None:
        raise not_found("Event not found")
    if event_format == "event":
        return json_response(dict(state_event(row, svc.clock.now_ms()), room_id=room_id))
    return json_response(row.pdu["content"])


@route("PUT", *client_paths("/rooms/{roomId}/state/{eventType}"),
       *client_paths("/rooms/{roomId}/state/{eventType}/{stateKey:path}"))
async def put_state_event(request: Request) -> Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}

    - Authorised by the room's power levels; a state key starting with '@' must be the sender.
    - A user's own m.room.member while not joined: a join acts as /join where the join rules
      allow it (an invite, a public room); otherwise the member must be joined (403).
    - m.room.canonical_alias: each alias added must point to this room (400 M_BAD_ALIAS) and be
      valid (400 M_INVALID_PARAM).
    - Repeating the current content returns the current event ID and stores nothing.
    - With `org.matrix.msc4140.delay` (ms): stored and sent that much later, answered with a delay_id (MSC4140).
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    delay = delay_ms(request)
    content = await json_body(request)
    svc.ratelimiter.check("send", who.user_id)
    event_type, state_key = request.path_params["eventType"], _state_key(request)
    await check_event_while_suspended(svc.rooms, who, event_type, content, state_key)
    if delay is not None:
        return json_response({"delay_id": await svc.calls.schedule(
            who.user_id, who.device_id, room_id, event_type, state_key, content, delay)})
    if event_type == "m.room.member" and state_key == who.user_id and not await svc.rooms.is_joined(
            room_id, who.user_id):
        event_id = await membership.set_own_member_state(svc.rooms, who.user_id, room_id, content)
    else:
        await svc.rooms.require_joined(room_id, who.user_id)
        if event_type == "m.room.canonical_alias" and state_key == "":
            await svc.userdata.directory.check_canonical_alias(room_id, content)
        event_id = await svc.rooms.send_state(who.user_id, room_id, event_type, state_key, content)
    return json_response({"event_id": event_id})
