"""Voice over IP: TURN credentials for 1:1 calls through the government's own relay."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_response, requester, route, services
from qasid.core.voip import turn_credentials


@route("GET", *client_paths("/voip/turnServer"))
async def get_turn_server(request: Request) -> Response:
    """GET /_matrix/client/v3/voip/turnServer

    - Time-limited credentials in coturn's REST-API form (`<expiry>:<user_id>`, HMAC-SHA1 of the shared
      secret), valid for turn_user_lifetime_ms; the URIs are the relay's own, never a public server.
    - {} when no relay is configured (the spec defines only 200 and 429): clients then call without TURN.
    - 403 M_FORBIDDEN when the user's unit policy switches calls off; 429 M_LIMIT_EXCEEDED.
    """
    who = await requester(request)
    svc = services(request)
    svc.ratelimiter.check("calls", who.user_id)
    await svc.policy.check_calls(who.user_id)
    return json_response(turn_credentials(svc.settings, who.user_id, svc.clock.now_ms()))
