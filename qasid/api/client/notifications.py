"""The events a user was (or would have been) notified of."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_response, query_int, requester, route, services


@route("GET", *client_paths("/notifications"))
async def get_notifications(request: Request) -> Response:
    """GET /_matrix/client/v3/notifications

    - Newest first; `from` is a `next_token` of an earlier page, `limit` at most 100 (default 20).
    - `only=highlight` lists only the notifications that highlighted.
    - A malformed `from` or `limit` is 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    svc = services(request)
    params = request.query_params
    limit = query_int(request, "limit", 20, 1, 100) or 20
    return json_response(await svc.push.notifications(
        who.user_id, params.get("from"), limit, params.get("only"), svc.clock.now_ms()))
