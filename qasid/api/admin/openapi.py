"""Admin API: its own OpenAPI 3.1 description, generated from the declared admin routes."""

from __future__ import annotations

import re
from typing import Any

from qasid.api.admin.routing import ADMIN_ROUTES, admin_request, admin_route
from qasid.api.asgi import Request, Response
from qasid.api.http import json_response

ERROR = {"type": "object", "properties": {"errcode": {"type": "string"}, "error": {"type": "string"}},
         "required": ["errcode", "error"]}


def openapi_document() -> dict[str, Any]:
    """The document: one operation per declared route, Matrix-shaped errors everywhere."""
    paths: dict[str, dict[str, Any]] = {}
    for r in ADMIN_ROUTES:
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"\{(\w+)\}", r.path)]
        operation: dict[str, Any] = {
            "summary": r.summary,
            "security": [{"bearer": []}],
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": r.response or {"type": "object"}}}},
                "default": {"description": "A Matrix error", "content": {"application/json": {"schema": ERROR}}},
            },
        }
        if r.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": r.body}}}
        paths.setdefault(r.path, {})[r.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "qasid admin API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


@admin_route("GET", "/openapi.json")
async def get_openapi(request: Request) -> Response:
    """GET /_qasid/admin/v1/openapi.json

    - This API's OpenAPI 3.1 document, for admins.
    """
    await admin_request(request)
    return json_response(openapi_document())
