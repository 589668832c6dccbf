"""Small endpoints clients call at start-up that qasid answers with "nothing here"."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route
from qasid.core.errors import MatrixError, bad_json, missing_param, not_found


@route("GET", *client_paths("/thirdparty/protocols"))
async def get_thirdparty_protocols(request: Request) -> Response:
    """GET /_matrix/client/v3/thirdparty/protocols

    - {}: no bridges (no third-party networks) are attached.
    """
    await requester(request)
    return json_response({})


@route("GET", *(path for suffix in ("/thirdparty/protocol/{protocol}", "/thirdparty/location/{protocol}",
                                     "/thirdparty/user/{protocol}") for path in client_paths(suffix)))
async def get_thirdparty_protocol(request: Request) -> Response:
    """GET /_matrix/client/v3/thirdparty/protocol/{protocol}

    - Also /thirdparty/location/{protocol} and /thirdparty/user/{protocol}: 404 M_NOT_FOUND, the
      spec's answer for an unknown protocol or no portal rooms or users (no bridges are attached).
    """
    await requester(request)
    raise not_found("Unknown third-party protocol (no bridges are attached to this server)")


@route("GET", *(path for suffix in ("/thirdparty/location", "/thirdparty/user") for path in client_paths(suffix)))
async def lookup_thirdparty(request: Request) -> Response:
    """GET /_matrix/client/v3/thirdparty/location

    - Also /thirdparty/user: the alias (userid) query is required (400 M_MISSING_PARAM); the answer
      is [], as no bridged network has any portal room or user.
    """
    await requester(request)
    name = "alias" if request.path.endswith("/location") else "userid"
    if not request.query_params.get(name):
        raise missing_param(f"Query parameter {name} is required")
    return json_response([])


@route("POST", *client_paths("/refresh"))
async def refresh(request: Request) -> Response:
    """POST /_matrix/client/v3/refresh

    - Without an access token, as the spec has it. qasid issues no refresh tokens (its access
      tokens don't expire), so every refresh token is unknown: 401 M_UNKNOWN_TOKEN.
    - refresh_token missing: 400 M_MISSING_PARAM; not a string: 400 M_BAD_JSON.
    """
    body = await json_body(request)
    if "refresh_token" not in body:
        raise missing_param("refresh_token is required")
    if not isinstance(body["refresh_token"], str):
        raise bad_json("refresh_token must be a string")
    raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token", soft_logout=False)


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
