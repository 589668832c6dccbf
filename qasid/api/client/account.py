"""The account itself: who am I, password change, deactivation."""

from __future__ import annotations

from qasid.api.admin.auth import government
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
    uia_operation,
)
from qasid.core.whois import whois


@route("GET", *client_paths("/account/whoami"))
async def whoami(request: Request) -> Response:
    """GET /_matrix/client/v3/account/whoami

    - The user and device behind the access token.
    """
    who = await requester(request)
    return json_response({"user_id": who.user_id, "device_id": who.device_id, "is_guest": False})


@route("POST", *client_paths("/account/password"))
async def change_password(request: Request) -> Response:
    """POST /_matrix/client/v3/account/password

    - User-interactive auth with the current password (m.login.password).
    - Signs out the user's other devices unless logout_devices is false.
    """
    who = await requester(request)
    body = await json_body(request)
    await services(request).accounts.change_password(who, uia_operation(request, body), client_ip(request))
    return empty()


@route("POST", *client_paths("/account/deactivate"))
async def deactivate_account(request: Request) -> Response:
    """POST /_matrix/client/v3/account/deactivate

    - User-interactive auth with the password (m.login.password).
    - An official may leave only if their unit's policy has `self_deactivation` on; otherwise 403
      M_FORBIDDEN naming the unit whose admins offboard them (asked before the password).
    - Then as offboarding: tokens revoked, devices and keys deleted, every room left, no login again.
    - `erase: true` also clears the profile and deletes account data, filters and key backup.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await government(request).deactivation.deactivate(
        who, uia_operation(request, body), client_ip(request)))


@route("GET", *client_paths("/admin/whois/{userId}"))
async def get_whois(request: Request) -> Response:
    """GET /_matrix/client/v3/admin/whois/{userId}

    - The user's devices, each with one session and its last-seen address and time.
    - For the user themselves, a national admin, or a unit admin for the officials they
      administer; 403 M_FORBIDDEN for anyone else, whether or not the user exists.
    """
    who = await requester(request)
    return json_response(await whois(services(request).accounts, who, request.path_params["userId"]))
