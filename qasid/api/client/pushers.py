"""Pushers: the push gateways that wake a user's phones."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, json_response, requester, route, services


@route("GET", *client_paths("/pushers"))
async def get_pushers(request: Request) -> Response:
    """GET /_matrix/client/v3/pushers

    - The user's pushers; those of devices that have signed out are removed first.
    """
    who = await requester(request)
    return json_response({"pushers": await services(request).pushers.list_pushers(who.user_id)})


@route("POST", *client_paths("/pushers/set"))
async def set_pusher(request: Request) -> Response:
    """POST /_matrix/client/v3/pushers/set

    - `kind: "http"` creates or updates the pusher (app_id, pushkey); `kind: null` removes it.
    - Without `append: true`, other users' pushers with the same app_id and pushkey are removed.
    - `data.url` must be http(s), end in /_matrix/push/v1/notify and carry no credentials
      (400 M_INVALID_PARAM); a gateway outside the operator's push_gateway_allowlist is 403
      M_FORBIDDEN, as is every pusher while that list is empty. At most 20 pushers per account.
    """
    who = await requester(request)
    body = await json_body(request)
    await services(request).pushers.set_pusher(who.user_id, who.device_id, body)
    return empty()
