"""Registration: closed, completed only with a registration token."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, client_paths, json_body, json_response, route, services
from qasid.core.errors import MatrixError, missing_param


@route("POST", *client_paths("/register"))
async def register(request: Request) -> Response:
    """POST /_matrix/client/v3/register

    - User-interactive auth with the flow [m.login.registration_token, m.login.dummy]; each
      stage answers 401 with what remains, as matrix-nio's register_with_token expects.
    - The token is consumed in the same transaction that creates the account: a single-use
      token yields exactly one account however many requests race for it.
    - Guests are refused (403); a taken username is 400 M_USER_IN_USE.
    """
    body = await json_body(request, allow_empty=True)
    return json_response(await services(request).accounts.register(body, client_ip(request)))


@route("GET", *client_paths("/register/available"))
async def username_available(request: Request) -> Response:
    """GET /_matrix/client/v3/register/available

    - 200 {"available": true} or 400 M_USER_IN_USE.
    """
    username = request.query_params.get("username")
    if not username:
        raise missing_param("username is required")
    if not await services(request).accounts.username_available(username):
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")
    return json_response({"available": True})


@route("GET", "/_matrix/client/v1/register/m.login.registration_token/validity")
async def registration_token_validity(request: Request) -> Response:
    """GET /_matrix/client/v1/register/m.login.registration_token/validity

    - {"valid": bool}; rate-limited like registration, so tokens can't be guessed quickly.
    """
    token = request.query_params.get("token")
    if token is None:
        raise missing_param("token is required")
    svc = services(request)
    svc.ratelimiter.check("register", client_ip(request))
    return json_response({"valid": await svc.accounts.token_valid(token)})
