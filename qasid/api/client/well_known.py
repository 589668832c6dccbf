"""Server discovery through /.well-known."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qasid.api.http import json_response, route, services


@route("GET", "/.well-known/matrix/client")
async def get_well_known_client(request: Request) -> Response:
    """GET /.well-known/matrix/client

    - Points clients at this server's base URL; tells Element that encryption is on by default.
    """
    settings = services(request).settings
    return json_response({
        "m.homeserver": {"base_url": settings.base_url},
        "io.element.e2ee": {"default": True, "secure_backup_required": False},
    })
