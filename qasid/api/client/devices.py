"""Device management: list, inspect, rename, delete (with user-interactive auth)."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_ip,
    client_paths,
    empty,
    json_body,
    json_response,
    optional,
    requester,
    require,
    route,
    services,
    uia_operation,
)
from qasid.core.errors import bad_json


@route("GET", *client_paths("/devices"))
async def list_devices(request: Request) -> Response:
    """GET /_matrix/client/v3/devices

    - Every device of the user: device_id, display_name, last_seen_ip, last_seen_ts (null when unknown).
    """
    who = await requester(request)
    return json_response({"devices": await services(request).e2ee.list_devices(who.user_id)})


@route("GET", *client_paths("/devices/{deviceId}"))
async def get_device(request: Request) -> Response:
    """GET /_matrix/client/v3/devices/{deviceId}

    - 404 M_NOT_FOUND for a device the user does not have.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.get_device(who.user_id, request.path_params["deviceId"]))


@route("PUT", *client_paths("/devices/{deviceId}"))
async def rename_device(request: Request) -> Response:
    """PUT /_matrix/client/v3/devices/{deviceId}

    - Sets display_name (at most 255 characters); a change is a device-list change.
    - 404 M_NOT_FOUND for a device the user does not have.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    name = optional(body, "display_name", str)
    if name is not None and len(name) > 255:
        raise bad_json("display_name must be at most 255 characters")
    await services(request).e2ee.rename_device(who.user_id, request.path_params["deviceId"], name)
    return empty()


@route("DELETE", *client_paths("/devices/{deviceId}"))
async def delete_device(request: Request) -> Response:
    """DELETE /_matrix/client/v3/devices/{deviceId}

    - Requires user-interactive auth with the password (401 with flows first).
    - Signs the device out and deletes it with its keys; 404 M_NOT_FOUND for an unknown device.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    svc = services(request)
    device_id = request.path_params["deviceId"]
    await svc.e2ee.get_device(who.user_id, device_id)
    await svc.accounts.require_password_uia(who, uia_operation(request, body))
    await svc.accounts.delete_devices(who.user_id, [device_id], source_ip=client_ip(request))
    return empty()


@route("POST", *client_paths("/delete_devices"))
async def delete_devices(request: Request) -> Response:
    """POST /_matrix/client/v3/delete_devices

    - Requires user-interactive auth with the password (401 with flows first).
    - Deletes the listed devices with their tokens and keys; unknown device IDs are ignored.
    """
    who = await requester(request)
    body = await json_body(request)
    device_ids = require(body, "devices", list)
    if not all(isinstance(d, str) for d in device_ids):
        raise bad_json("devices must be a list of device IDs")
    svc = services(request)
    await svc.accounts.require_password_uia(who, uia_operation(request, body))
    await svc.accounts.delete_devices(who.user_id, device_ids, source_ip=client_ip(request))
    return empty()
