"""Admin API: the organisation tree, unit policy and unit admin roles."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.admin.routing import BOOL, INT, STR, admin_request, admin_route, obj, path_int
from qasid.api.asgi import Request, Response
from qasid.api.http import empty, json_response
from qasid.core.errors import MatrixError
from qasid.gov.org import unit_json
from qasid.gov.rules import DEFAULTS

UNIT = obj({"unit_id": INT, "parent_id": INT, "code": STR, "name": STR})
POLICY = obj({key: ({"type": ["boolean"]} if isinstance(value, bool) else
                    {"type": ["string"]} if isinstance(value, str) else
                    {"type": ["array", "null"], "items": STR} if isinstance(value, list) else {"type": ["number", "null"]})
              for key, value in DEFAULTS.items()})


@admin_route("GET", "/units", response=obj({"units": {"type": "array", "items": UNIT}}))
async def list_units(request: Request) -> Response:
    """GET /_qasid/admin/v1/units

    - Every unit the admin covers (a national admin: the whole tree).
    """
    scope, _ = await admin_request(request)
    return json_response({"units": [unit_json(u) for u in government(request).org.list_units(scope)]})


@admin_route("POST", "/units", body=obj({"code": STR, "name": STR, "parent_id": INT}, ["code", "name"]),
             response=UNIT)
async def create_unit(request: Request) -> Response:
    """POST /_qasid/admin/v1/units

    - Creates a unit under parent_id (a unit the admin covers); without parent_id, a ministry (national admins only).
    - 409 M_UNIT_IN_USE when the code is taken.
    """
    scope, body = await admin_request(request, with_body=True)
    gov = government(request)
    parent_id = body.get("parent_id")
    if parent_id is not None and (not isinstance(parent_id, int) or isinstance(parent_id, bool)):
        raise MatrixError(400, "M_INVALID_PARAM", "parent_id must be an integer")
    unit = await gov.create_unit(scope, parent_id, body.get("code"), body.get("name"))
    return json_response(unit_json(unit))


@admin_route("GET", "/units/{unit_id}", response=UNIT)
async def get_unit(request: Request) -> Response:
    """GET /_qasid/admin/v1/units/{unit_id}

    - 404 M_NOT_FOUND for a unit that doesn't exist or that the admin doesn't cover.
    """
    scope, _ = await admin_request(request)
    return json_response(unit_json(government(request).org.unit_in_scope(scope, path_int(request, "unit_id"))))


@admin_route("PUT", "/units/{unit_id}", body=obj({"name": STR, "parent_id": INT}), response=UNIT)
async def update_unit(request: Request) -> Response:
    """PUT /_qasid/admin/v1/units/{unit_id}

    - Renames the unit and/or moves it under another covered unit; never under itself.
    """
    scope, body = await admin_request(request, with_body=True)
    gov = government(request)
    unit = await gov.update_unit(scope, path_int(request, "unit_id"), body)
    return json_response(unit_json(unit))


@admin_route("GET", "/units/{unit_id}/policy", response=obj({"own": POLICY, "effective": POLICY}))
async def get_policy(request: Request) -> Response:
    """GET /_qasid/admin/v1/units/{unit_id}/policy

    - own: the keys set on this unit; effective: what is in force here, inherited down the tree.
    """
    scope, _ = await admin_request(request)
    org = government(request).org
    unit = org.unit_in_scope(scope, path_int(request, "unit_id"))
    return json_response({"own": org.unit_policy_values(unit.unit_id), "effective": org.policy_of_unit(unit.unit_id)})


@admin_route("PUT", "/units/{unit_id}/policy", body=POLICY, response=obj({"own": POLICY, "effective": POLICY}))
async def set_policy(request: Request) -> Response:
    """PUT /_qasid/admin/v1/units/{unit_id}/policy

    - Sets the given keys on the unit; a null value removes a key so it is inherited again.
    - Unknown keys or values out of range: 400 M_INVALID_PARAM, and nothing changes.
    - Only tightens: a value looser than the one in force at the parent is 403 M_FORBIDDEN naming
      the ancestor that sets the limit, unless that ancestor lists the key in allow_loosening.
      Anyone's request, a national admin's too; a ministry (no parent) may set any value.
    - A parent tightened later overrides a child's looser value in `effective` (kept in `own`).
    """
    scope, body = await admin_request(request, with_body=True)
    gov = government(request)
    unit = gov.org.unit_in_scope(scope, path_int(request, "unit_id"))
    own = await gov.set_unit_policy(scope, unit.unit_id, body)
    return json_response({"own": own, "effective": gov.org.policy_of_unit(unit.unit_id)})


@admin_route("PUT", "/units/{unit_id}/admins/{user_id}", body=obj({"admin": BOOL}))
async def set_unit_admin(request: Request) -> Response:
    """PUT /_qasid/admin/v1/units/{unit_id}/admins/{user_id}

    - {"admin": true} makes the account an admin of the unit's subtree; false revokes it.
    """
    scope, body = await admin_request(request, with_body=True)
    granted = body.get("admin", True)
    if not isinstance(granted, bool):
        raise MatrixError(400, "M_INVALID_PARAM", "admin must be true or false")
    await government(request).lifecycle.set_admin_role(
        scope, request.path_params["user_id"], path_int(request, "unit_id"), granted)
    return empty()
