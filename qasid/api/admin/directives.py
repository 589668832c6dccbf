"""Admin API: directives — issue one to units, list them, read who acknowledged, remind those who haven't.

Unlike the other admin routes these are open to an official who administers nothing but holds a
designation a unit's policy names in `directive_designations`; the service decides who may do what.
"""

from __future__ import annotations

from typing import Any

from qasid.api.admin.auth import government
from qasid.api.admin.routing import INT, STR, admin_route, obj
from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, json_body, json_response, requester
from qasid.gov.scope import AdminScope

DIRECTIVE = obj({"directive_id": STR, "title": STR, "issuer": STR, "unit_ids": {"type": "array", "items": INT},
                 "deadline_ts": INT, "deadline": STR, "created_ts": INT, "room_id": STR,
                 "message_event_id": STR, "message_ts": INT, "reminded_ts": INT})
COUNTS = {"recipients": INT, "acknowledged": INT, "read_only": INT, "not_read": INT}
STATUS = obj({**DIRECTIVE["properties"], "counts": obj(COUNTS),
              "units": {"type": "array", "items": obj({"unit_id": INT, "code": STR, **COUNTS})},
              "officials": {"type": "array", "items": obj({
                  "user_id": STR, "unit_id": INT, "state": STR, "acknowledged_ts": INT, "how": STR, "read_ts": INT})}})


async def _caller(request: Request, *, with_body: bool = False) -> tuple[AdminScope, dict[str, Any]]:
    """Authenticate (401), read the body (400), and the caller's scope (an official's may cover no unit)."""
    who = await requester(request)
    body = await json_body(request, allow_empty=True) if with_body else {}
    scope = government(request).directives.caller(who.user_id, who.is_admin)
    return AdminScope(scope.user_id, scope.unit_ids, who.device_id, client_ip(request)), body


@admin_route("POST", "/directives", body=obj({"title": STR, "unit_ids": {"type": "array", "items": INT},
                                              "deadline_ts": INT}, ["title", "unit_ids", "deadline_ts"]),
             response=DIRECTIVE)
async def create_directive(request: Request) -> Response:
    """POST /_qasid/admin/v1/directives

    - Issues a directive to the units and their subtrees: the server makes an encrypted room with the caller
      as creator, named "Directive: <title>", and brings the units' officials into it. The caller's client
      then writes the text there, encrypted; the title is metadata the server keeps.
    - Allowed to admins of every target unit, and to officials whose designation the units' policy lists in
      directive_designations (units at or below their own). Any other unit is 404 M_NOT_FOUND.
    """
    scope, body = await _caller(request, with_body=True)
    return json_response(await government(request).directives.create(scope, body))


@admin_route("GET", "/directives", response=obj({"directives": {"type": "array", "items": DIRECTIVE}}))
async def list_directives(request: Request) -> Response:
    """GET /_qasid/admin/v1/directives

    - The directives the caller issued, or whose issuer's unit the caller administers (all: a national admin).
    """
    scope, _ = await _caller(request)
    return json_response({"directives": government(request).directives.list_directives(scope)})


@admin_route("GET", "/directives/{directive_id}", response=STATUS)
async def directive_status(request: Request) -> Response:
    """GET /_qasid/admin/v1/directives/{directive_id}

    - Per official and per unit: acknowledged (how and when), read only (public read receipt, when), or not read.
    - 404 M_NOT_FOUND for a directive that doesn't exist or that the caller may not see.
    """
    scope, _ = await _caller(request)
    return json_response(government(request).directives.status(scope, request.path_params["directive_id"]))


@admin_route("POST", "/directives/{directive_id}/remind",
             response=obj({"directive_id": STR, "reminded": {"type": "array", "items": STR}}))
async def remind(request: Request) -> Response:
    """POST /_qasid/admin/v1/directives/{directive_id}/remind

    - A notice from the server's account in the directive's room, mentioning everyone who has not acknowledged.
    - 400 M_INVALID_PARAM before the issuer has written the directive into its room.
    """
    scope, _ = await _caller(request, with_body=True)
    return json_response(await government(request).directives.remind(scope, request.path_params["directive_id"]))
