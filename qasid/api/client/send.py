"""Sending message events and redactions."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_paths,
    delay_ms,
    json_body,
    json_response,
    optional,
    requester,
    route,
    services,
)
from qasid.core.rooms import Txn
from qasid.core.suspension import check_event_while_suspended


@route("PUT", *client_paths("/rooms/{roomId}/send/{eventType}/{txnId}"))
async def send_event(request: Request) -> Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}

    - A repeated txnId from the same device on the same path returns the first event ID; nothing
      is stored twice, across restarts too (the txn record commits with the event).
    - Refused with 403 M_FORBIDDEN when the sender is not joined or policy forbids the event;
      413 M_TOO_LARGE over 65,536 bytes; 400 M_BAD_JSON for floats or out-of-range integers.
    - With `org.matrix.msc4140.delay` (ms): stored and sent that much later, answered with a delay_id
      (MSC4140; a repeated txnId returns the first one); 400 M_MAX_DELAY_EXCEEDED past max_delay_ms,
      429 past the pending events a user may have.
    """
    who = await requester(request)
    svc = services(request)
    room_id, event_type = request.path_params["roomId"], request.path_params["eventType"]
    delay = delay_ms(request)
    svc.ratelimiter.check("send", who.user_id)
    content = await json_body(request, allow_empty=False)
    await check_event_while_suspended(svc.rooms, who, event_type, content)
    if delay is not None:
        return json_response({"delay_id": await svc.calls.schedule(
            who.user_id, who.device_id, room_id, event_type, None, content, delay,
            txn_id=f"send/{room_id}/{event_type}/{request.path_params['txnId']}")})
    txn = Txn(who.user_id, who.device_id, f"send/{room_id}/{event_type}", request.path_params["txnId"])
    await svc.rooms.require_joined(room_id, who.user_id)
    event_id = await svc.rooms.append(who.user_id, room_id, event_type, content, txn=txn)
    return json_response({"event_id": event_id})


@route("PUT", *client_paths("/rooms/{roomId}/redact/{eventId}/{txnId}"))
async def redact_event(request: Request) -> Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}

    - Your own events, or anyone's with the redact power level; the server keeps only the
      redacted form of the target from then on.
    - Idempotent per device and txnId.
    """
    who = await requester(request)
    svc = services(request)
    room_id, target = request.path_params["roomId"], request.path_params["eventId"]
    body = await json_body(request, allow_empty=True)
    content = {"redacts": target}
    reason = optional(body, "reason", str)
    if reason is not None:
        content["reason"] = reason
    await check_event_while_suspended(svc.rooms, who, "m.room.redaction", content, redacts=target)
    txn = Txn(who.user_id, who.device_id, f"redact/{room_id}/{target}", request.path_params["txnId"])
    await svc.rooms.require_joined(room_id, who.user_id)
    event_id = await svc.rooms.append(
        who.user_id, room_id, "m.room.redaction", content, txn=txn, redacts=target)
    return json_response({"event_id": event_id})
