"""OpenID: tokens that prove a user's identity to a third party, here the call service (lk-jwt-service)."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, client_paths, json_body, json_response, requester, route, services
from qasid.core.errors import MatrixError


@route("POST", *client_paths("/user/{userId}/openid/request_token"))
async def request_openid_token(request: Request) -> Response:
    """POST /_matrix/client/v3/user/{userId}/openid/request_token

    - A token valid for openid_token_lifetime_ms (an hour) that /_matrix/federation/v1/openid/userinfo turns into the user's ID,
      and nothing else; kept only as its hash.
    - 403 M_FORBIDDEN for another user's ID, or when the user's unit policy switches calls off;
      429 M_LIMIT_EXCEEDED.
    """
    who = await requester(request)
    svc = services(request)
    await json_body(request, allow_empty=True)
    if request.path_params["userId"] != who.user_id:
        raise MatrixError(403, "M_FORBIDDEN", "You can only request an OpenID token for yourself")
    svc.ratelimiter.check("calls", who.user_id)
    await svc.policy.check_calls(who.user_id)
    return json_response(await svc.calls.request_openid_token(who.user_id))


@route("GET", "/_matrix/federation/v1/openid/userinfo")
async def get_openid_userinfo(request: Request) -> Response:
    """GET /_matrix/federation/v1/openid/userinfo

    - The one federation endpoint served, though federation is off: the call service validates an
      OpenID token here. {"sub": user_id} while the token is valid; 401 M_UNKNOWN_TOKEN otherwise.
    - The token travels in the `access_token` query parameter, as the spec defines; it is a
      single-purpose token, never an access token.
    """
    svc = services(request)
    svc.ratelimiter.check("calls", "userinfo:" + client_ip(request))
    token = request.query_params.get("access_token", "")
    return json_response(await svc.calls.openid_userinfo(token))
