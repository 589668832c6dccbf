"""Server discovery through /.well-known."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, route, services


@route("GET", "/.well-known/matrix/client")
async def get_well_known_client(request: Request) -> Response:
    """GET /.well-known/matrix/client

    - Points clients at this server's base URL; tells Element, from policy, that encryption is on by default
      and whether secure backup is required.
    """
    svc = services(request)
    # The io.element.e2ee hints (encryption on by default, secure backup required) come from policy.
    return json_response({
        "m.homeserver": {"base_url": svc.settings.base_url},
        **await svc.policy.client_well_known(),
    })
