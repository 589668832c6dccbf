"""How an admin route is declared: its path under /_qasid/admin/v1, its JSON body schema, its auth.

Each declaration feeds the OpenAPI document (api/admin/openapi.py), so the document is generated
from the same table the server routes by.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qasid.api.admin.auth import government
from qasid.api.asgi import Handler, Request
from qasid.api.http import client_ip, json_body, requester, route
from qasid.core.errors import MatrixError
from qasid.gov.scope import AdminScope

PREFIX = "/_qasid/admin/v1"


@dataclass(frozen=True)
class AdminRoute:
    """What the OpenAPI document says about one route."""

    method: str
    path: str
    summary: str
    body: dict[str, Any] | None
    response: dict[str, Any] | None


ADMIN_ROUTES: list[AdminRoute] = []


def admin_route(
    method: str, suffix: str, *, body: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register an admin handler at PREFIX + suffix and describe it for the OpenAPI document."""

    def decorate(fn: Handler) -> Handler:
        lines = (fn.__doc__ or "").strip().splitlines()
        summary = " ".join(line.strip(" -") for line in lines[1:] if line.strip())
        ADMIN_ROUTES.append(AdminRoute(method, PREFIX + suffix, summary, body, response))
        return route(method, PREFIX + suffix)(fn)

    return decorate


async def admin_request(request: Request, *, with_body: bool = False) -> tuple[AdminScope, dict[str, Any]]:
    """Authenticate (401), read the JSON body if any (400), then require an admin (403)."""
    who = await requester(request)
    body = await json_body(request, allow_empty=True) if with_body else {}
    scope = await government(request).admin_scope(who.user_id, is_server_admin=who.is_admin)
    if scope is None:
        raise MatrixError(403, "M_FORBIDDEN", "You are not an administrator")
    return dataclasses.replace(scope, device_id=who.device_id, source_ip=client_ip(request)), body


def path_int(request: Request, name: str) -> int:
    """An integer path parameter (IDs of units); anything else is M_INVALID_PARAM."""
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 15:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a positive integer")
    return int(raw)


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A JSON-schema object, for declaring bodies and responses tersely."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
