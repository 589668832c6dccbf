"""Admin API: an official's devices, and the maintenance schedule (stale devices, retention)."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.admin.routing import INT, STR, admin_request, admin_route, obj
from qasid.api.asgi import Request, Response
from qasid.api.http import empty, json_response
from qasid.core.errors import MatrixError

DEVICE = obj({"device_id": STR, "display_name": STR, "last_seen_ip": STR, "last_seen_ts": INT})


@admin_route("GET", "/officials/{user_id}/devices", response=obj({"devices": {"type": "array", "items": DEVICE}}))
async def list_devices(request: Request) -> Response:
    """GET /_qasid/admin/v1/officials/{user_id}/devices

    - Display name, last seen IP and time of each device.
    """
    scope, _ = await admin_request(request)
    return json_response({"devices": await government(request).lifecycle.devices(scope, request.path_params["user_id"])})


@admin_route("DELETE", "/officials/{user_id}/devices/{device_id}")
async def sign_out_device(request: Request) -> Response:
    """DELETE /_qasid/admin/v1/officials/{user_id}/devices/{device_id}

    - Signs the device out: its token stops working at once, its keys are deleted, other members see the change.
    """
    scope, _ = await admin_request(request)
    await government(request).lifecycle.sign_out_device(
        scope, request.path_params["user_id"], request.path_params["device_id"])
    return empty()


@admin_route("POST", "/maintenance/run",
             response=obj({"offboardings_finished": INT, "clearance_changes_finished": INT, "events_purged": INT,
                           "devices_removed": INT, "directive_members_changed": INT,
                           "directive_reminders_sent": INT}))
async def run_maintenance(request: Request) -> Response:
    """POST /_qasid/admin/v1/maintenance/run

    - Runs the scheduled jobs now (retention purge, stale devices, pending offboardings and
      clearance changes, directive rooms and reminders). National admins only.
    """
    scope, _ = await admin_request(request, with_body=True)
    if not scope.is_national:
        raise MatrixError(403, "M_FORBIDDEN", "Only a national admin may run maintenance")
    return json_response(await government(request).maintenance.run_once())
