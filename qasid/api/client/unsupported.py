"""Endpoints qasid refuses by design, each with the error the spec defines for that refusal.

Accounts have no e-mail or phone identifiers (no identity server, nothing leaves the border), and
no application services are registered. Other unsupported endpoints (single sign-on, peeking and
the legacy /events and /initialSync, URL previews, login tokens) have no route at all and answer
the spec's 404 M_UNRECOGNIZED, which tells a client the feature is absent. README: "Discovery".
"""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route

THREEPID_DENIED = "qasid keeps no e-mail addresses or phone numbers: accounts are enrolled by their ministry"
REQUEST_TOKEN_PATHS = [
    path for kind in ("account/3pid", "register", "account/password") for medium in ("email", "msisdn")
    for path in client_paths(f"/{kind}/{medium}/requestToken")
]


def _error(status: int, errcode: str, message: str) -> Response:
    return json_response({"errcode": errcode, "error": message}, status)


@route("POST", *REQUEST_TOKEN_PATHS)
async def request_threepid_token(request: Request) -> Response:
    """POST /_matrix/client/v3/register/email/requestToken

    - The six requestToken endpoints (register, account/3pid, account/password; email and msisdn),
      before or after login: 403 M_THREEPID_DENIED, and no message is ever sent.
    """
    await json_body(request)
    return _error(403, "M_THREEPID_DENIED", THREEPID_DENIED)


@route("POST", *(path for suffix in ("/account/3pid/add", "/account/3pid/bind", "/account/3pid/delete",
                                      "/account/3pid/unbind") for path in client_paths(suffix)))
async def change_threepids(request: Request) -> Response:
    """POST /_matrix/client/v3/account/3pid/add

    - add, bind, delete and unbind: 403 M_THREEPID_DENIED (capabilities: m.3pid_changes is off).
    """
    await requester(request)
    await json_body(request)
    return _error(403, "M_THREEPID_DENIED", THREEPID_DENIED)


@route("POST", *client_paths("/account/3pid"))
async def add_threepid_legacy(request: Request) -> Response:
    """POST /_matrix/client/v3/account/3pid

    - Deprecated form of add/bind: 403 M_THREEPID_AUTH_FAILED, as the spec answers when no identity
      server can verify the credentials (qasid trusts none).
    """
    await requester(request)
    await json_body(request)
    return _error(403, "M_THREEPID_AUTH_FAILED", "qasid uses no identity server")


@route("POST", "/_matrix/client/v1/appservice/{appserviceId}/ping")
async def ping_appservice(request: Request) -> Response:
    """POST /_matrix/client/v1/appservice/{appserviceId}/ping

    - 403 M_FORBIDDEN: no access token belongs to an application service (none can be registered).
    """
    await requester(request)
    await json_body(request, allow_empty=True)
    return _error(403, "M_FORBIDDEN", "This access token does not belong to an application service")


@route("PUT", *client_paths("/directory/list/appservice/{networkId}/{roomId}"))
async def publish_for_appservice(request: Request) -> Response:
    """PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}

    - 403 M_FORBIDDEN: only an application service may publish to a network's room list.
    """
    await requester(request)
    await json_body(request)
    return _error(403, "M_FORBIDDEN", "Only an application service may use this endpoint")
