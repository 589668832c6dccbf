"""The password rules clients show before a user picks a password."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import bearer_token, client_paths, json_response, requester, route, services


@route("GET", *client_paths("/password_policy"))
async def get_password_policy(request: Request) -> Response:
    """GET /_matrix/client/v3/password_policy

    - {m.minimum_length, m.require_digit, m.require_symbol, m.require_uppercase, m.require_lowercase}.
    - With an access token, the rules of the caller's unit; without one, the server's defaults.
    """
    svc = services(request)
    user_id = (await requester(request, allow_locked=True)).user_id if bearer_token(request) else None
    return json_response(await svc.policy.password_policy(user_id))
