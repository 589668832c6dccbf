"""Delayed events (MSC4140): listing and managing events the server sends later on a user's behalf."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, empty, json_body, json_response, requester, require, route, services
from qasid.core.calls import ACTIONS
from qasid.core.errors import MatrixError

PREFIX = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"


@route("GET", PREFIX)
async def get_delayed_events(request: Request) -> Response:
    """GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events

    - The requester's scheduled delayed events, the next to be sent first.
    """
    who = await requester(request)
    svc = services(request)
    svc.ratelimiter.check("delayed_events", who.user_id)
    return json_response({"delayed_events": await svc.calls.scheduled(who.user_id)})


async def _act(request: Request, action: str) -> Response:
    svc = services(request)
    # Unauthenticated: the delay_id is the credential, so a call service may be handed it.
    svc.ratelimiter.check("delayed_events", client_ip(request))
    await svc.calls.act(request.path_params["delayId"], action)
    return empty()


@route("POST", PREFIX + "/{delayId}/cancel", PREFIX + "/{delayId}/restart", PREFIX + "/{delayId}/send")
async def post_delayed_event_action(request: Request) -> Response:
    """POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/{cancel|restart|send}

    - cancel, restart (the delay runs again from now) or send (now); no access token is needed:
      knowing the delay_id is the permission. Any other action is not a route (404 M_UNRECOGNIZED).
    - A repeat of a cancel or send already done succeeds; the opposite of what happened is 409.
    - 404 M_NOT_FOUND for an unknown delay_id.
    """
    action = request.path.rsplit("/", 1)[1]
    await json_body(request, allow_empty=True)
    return await _act(request, action)


@route("POST", PREFIX + "/{delayId}")
async def post_delayed_event(request: Request) -> Response:
    """POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}

    - The earlier form of the above, with {"action": "cancel" | "restart" | "send"} in the body.
    """
    body = await json_body(request)
    action = require(body, "action", str)
    if action not in ACTIONS:
        raise MatrixError(400, "M_INVALID_PARAM", f"action must be one of {', '.join(ACTIONS)}")
    return await _act(request, action)
