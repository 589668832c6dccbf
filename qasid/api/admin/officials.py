"""Admin API: officials — direct creation, CSV import, placement, suspension, offboarding."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.admin.routing import BOOL, INT, STR, admin_request, admin_route, obj
from qasid.api.asgi import Request, Response
from qasid.api.http import empty, json_response, query_int
from qasid.core.errors import MatrixError

OFFICIAL = obj({"user_id": STR, "unit_id": INT, "designation": STR, "displayname": STR, "deactivated": BOOL,
                "locked": BOOL, "read_only": BOOL, "has_password": BOOL, "state": STR, "clearance": STR})
ROWS = {"type": "array", "items": {"type": "object"}}


@admin_route("GET", "/officials", response=obj({"officials": {"type": "array", "items": OFFICIAL}}))
async def list_officials(request: Request) -> Response:
    """GET /_qasid/admin/v1/officials?unit_id=

    - Officials of one unit, or of every unit the admin covers, each with its state: active,
      suspended or offboarded.
    """
    scope, _ = await admin_request(request)
    unit_id = query_int(request, "unit_id", None, lo=0, hi=2**53)
    return json_response({"officials": government(request).lifecycle.list_officials(scope, unit_id)})


@admin_route("POST", "/officials", response=obj({"user_id": STR}), body=obj(
    {"username": STR, "unit_id": INT, "designation": STR, "displayname": STR, "password": STR},
    ["username", "unit_id"]))
async def create_official(request: Request) -> Response:
    """POST /_qasid/admin/v1/officials

    - Creates the account in a unit the admin covers; without a password the official can't log in
      until one is set (or they enroll with a token instead).
    - 409 M_USER_IN_USE for a taken username; the password must meet the unit's rules.
    """
    scope, body = await admin_request(request, with_body=True)
    return json_response({"user_id": await government(request).enrollment.create_official(scope, body)})


@admin_route("POST", "/officials/import", body=obj({"csv": STR, "all_or_nothing": BOOL}, ["csv"]),
             response=obj({"created": ROWS, "skipped": ROWS, "refused": ROWS, "withheld": ROWS}))
async def import_officials(request: Request) -> Response:
    """POST /_qasid/admin/v1/officials/import

    - csv: rows of unit code, username, display name, designation (an optional header row).
    - Idempotent: an official already in that unit is skipped; each refused row says why.
    - Accounts are created without passwords, in one transaction; they enroll or are given one later.
    - all_or_nothing: one refused row creates nothing; the rows that passed are listed as withheld.
    """
    scope, body = await admin_request(request, with_body=True)
    all_or_nothing = body.get("all_or_nothing", False)
    if not isinstance(all_or_nothing, bool):
        raise MatrixError(400, "M_INVALID_PARAM", "all_or_nothing must be true or false")
    return json_response(await government(request).enrollment.import_csv(scope, body.get("csv"), all_or_nothing))


@admin_route("GET", "/officials/{user_id}", response=OFFICIAL)
async def get_official(request: Request) -> Response:
    """GET /_qasid/admin/v1/officials/{user_id}

    - 404 M_NOT_FOUND for an account that doesn't exist or that the admin doesn't cover.
    """
    scope, _ = await admin_request(request)
    return json_response(await government(request).lifecycle.describe(scope, request.path_params["user_id"]))


@admin_route("PUT", "/officials/{user_id}", body=obj({"unit_id": INT, "designation": STR}), response=OFFICIAL)
async def update_official(request: Request) -> Response:
    """PUT /_qasid/admin/v1/officials/{user_id}

    - Moves the official to another covered unit and/or changes their designation.
    """
    scope, body = await admin_request(request, with_body=True)
    return json_response(await government(request).lifecycle.update(scope, request.path_params["user_id"], body))


@admin_route("POST", "/officials/{user_id}/offboard",
             response=obj({"user_id": STR, "devices_deleted": INT, "rooms_left": INT, "rooms_pending": BOOL}))
async def offboard(request: Request) -> Response:
    """POST /_qasid/admin/v1/officials/{user_id}/offboard

    - Every token stops working on the next request; devices and keys are deleted; the account
      leaves every room, leaves the directory, and can never log in again. Not reversible.
    """
    scope, _ = await admin_request(request, with_body=True)
    return json_response(await government(request).lifecycle.offboard(scope, request.path_params["user_id"]))


@admin_route("POST", "/officials/{user_id}/suspend")
async def suspend(request: Request) -> Response:
    """POST /_qasid/admin/v1/officials/{user_id}/suspend

    - Every request but logout gets 401 M_USER_LOCKED until the suspension is lifted.
    """
    scope, _ = await admin_request(request, with_body=True)
    await government(request).lifecycle.set_suspended(scope, request.path_params["user_id"], True)
    return empty()


@admin_route("POST", "/officials/{user_id}/unsuspend")
async def unsuspend(request: Request) -> Response:
    """POST /_qasid/admin/v1/officials/{user_id}/unsuspend

    - Lifts a suspension; the official's existing sessions work again.
    """
    scope, _ = await admin_request(request, with_body=True)
    await government(request).lifecycle.set_suspended(scope, request.path_params["user_id"], False)
    return empty()


@admin_route("PUT", "/officials/{user_id}/read_only", body=obj({"read_only": BOOL}, ["read_only"]))
async def set_read_only(request: Request) -> Response:
    """PUT /_qasid/admin/v1/officials/{user_id}/read_only

    - read_only true: the official still signs in and reads, and every write gets 403
      M_USER_SUSPENDED (the spec's suspension); false lifts it. Audited in the same transaction.
    """
    scope, body = await admin_request(request, with_body=True)
    await government(request).lifecycle.set_read_only(scope, request.path_params["user_id"], body.get("read_only"))
    return empty()


@admin_route("PUT", "/officials/{user_id}/password", body=obj({"password": STR}, ["password"]))
async def set_password(request: Request) -> Response:
    """PUT /_qasid/admin/v1/officials/{user_id}/password

    - Sets the official's password (e.g. after a bulk import); it must meet their unit's rules (M_WEAK_PASSWORD).
    """
    scope, body = await admin_request(request, with_body=True)
    await government(request).lifecycle.set_password(scope, request.path_params["user_id"], body.get("password"))
    return empty()


@admin_route("PUT", "/officials/{user_id}/clearance", body=obj({"level": STR}, ["level"]),
             response=obj({"user_id": STR, "clearance": STR, "rooms_left": INT, "rooms_pending": BOOL}))
async def set_clearance(request: Request) -> Response:
    """PUT /_qasid/admin/v1/officials/{user_id}/clearance

    - Sets the classification level the official is cleared to (one of the classification_levels
      setting); a unit admin grants at most their own clearance. Recorded in the audit log.
    - The official leaves every room above the new clearance at once (each removal audited).
    """
    scope, body = await admin_request(request, with_body=True)
    return json_response(await government(request).clearance.set_clearance(
        scope, request.path_params["user_id"], body.get("level")))
