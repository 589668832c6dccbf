"""Small endpoints clients call at start-up that qasid answers with "nothing here"."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_response, requester, route


@route("GET", *client_paths("/thirdparty/protocols"))
async def get_thirdparty_protocols(request: Request) -> Response:
    """GET /_matrix/client/v3/thirdparty/protocols

    - {}: no bridges (no third-party networks) are attached.
    """
    await requester(request)
    return json_response({})


@route("GET", *client_paths("/notifications"))
async def get_notifications(request: Request) -> Response:
    """GET /_matrix/client/v3/notifications

    - Always {"notifications": []}: push notifications are not computed on the server yet.
    """
    await requester(request)
    return json_response({"notifications": []})


@route("GET", *client_paths("/account/3pid"))
async def get_threepids(request: Request) -> Response:
    """GET /_matrix/client/v3/account/3pid

    - Always {"threepids": []}: accounts have no e-mail or phone identifiers (no identity server).
    """
    await requester(request)
    return json_response({"threepids": []})
