"""Login and logout."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_ip,
    client_paths,
    empty,
    json_body,
    json_response,
    requester,
    route,
    services,
)


@route("GET", *client_paths("/login"))
async def get_login_flows(request: Request) -> Response:
    """GET /_matrix/client/v3/login

    - Password login only.
    """
    return json_response({"flows": [{"type": "m.login.password"}]})


@route("POST", *client_paths("/login"))
async def login(request: Request) -> Response:
    """POST /_matrix/client/v3/login

    - m.login.password with an m.id.user identifier; a new device unless device_id names an existing one.
    - Refused with 403 M_FORBIDDEN on a wrong password, at the same cost as for an unknown user.
    - With directory sign-in (ldap_uri), directory accounts are checked there: 403 M_USER_DEACTIVATED
      for an entry disabled there, 503 when it can't be reached (no local fallback).
    - Rate-limited per address and per user: 429 M_LIMIT_EXCEEDED with Retry-After.
    """
    body = await json_body(request)
    return json_response(await services(request).accounts.login(body, client_ip(request)))


@route("POST", *client_paths("/logout"))
async def logout(request: Request) -> Response:
    """POST /_matrix/client/v3/logout

    - Invalidates this access token and deletes its device with its keys.
    """
    who = await requester(request, allow_locked=True)
    await services(request).accounts.logout(who, client_ip(request))
    return empty()


@route("POST", *client_paths("/logout/all"))
async def logout_all(request: Request) -> Response:
    """POST /_matrix/client/v3/logout/all

    - Invalidates every access token of the user and deletes all their devices.
    """
    who = await requester(request, allow_locked=True)
    await services(request).accounts.logout_all(who.user_id, client_ip(request))
    return empty()
