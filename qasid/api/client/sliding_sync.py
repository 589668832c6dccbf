"""Simplified Sliding Sync (MSC4186), under its unstable prefix: the sync Element X requires."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import json_body, json_response, query_int, requester, route, services
from qasid.core.errors import MatrixError
from qasid.core.notifier import ClientGone
from qasid.core.sliding_sync import parse_request
from qasid.core.sync import MAX_TIMEOUT_MS

PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


@route("POST", PATH)
async def sliding_sync(request: Request) -> Response:
    """POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync?pos=&timeout=&set_presence=

    - Without `pos`: a new connection (replacing one with the same `conn_id`), answered at once.
    - With `pos`: what changed since that response, for the rooms the lists' ranges and the room
      subscriptions name; waits up to `timeout` ms (at most 60 s) when nothing did.
    - 400 M_UNKNOWN_POS for a `pos` the server no longer knows: the client starts again.
    - To-device messages are deleted only once a later request's `since` shows they arrived.
    """
    who = await requester(request)
    params = request.query_params
    set_presence = params.get("set_presence", "online")
    if set_presence not in ("online", "offline", "unavailable"):
        raise MatrixError(400, "M_INVALID_PARAM", "set_presence must be online, offline or unavailable")
    pos = params.get("pos")
    if pos is not None and len(pos) > 64:
        raise MatrixError(400, "M_UNKNOWN_POS", "Unknown pos")
    timeout_ms = query_int(request, "timeout", 0, 0, MAX_TIMEOUT_MS) or 0
    body = parse_request(await json_body(request, allow_empty=True), pos, timeout_ms)
    svc = services(request).sliding_sync
    await services(request).presence.synced(who.user_id, set_presence)
    if timeout_ms == 0 or pos is None:
        return json_response(await svc.sliding_sync(who.user_id, who.device_id, body))
    # A long-poll whose client has gone must not keep waiting.
    try:
        return json_response(await svc.sliding_sync(who.user_id, who.device_id, body,
                                                    request.receive))
    except ClientGone:
        return Response(status_code=499)
