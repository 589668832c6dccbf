"""Server administration (spec v1.18): locking and suspending accounts from a Matrix client."""

from __future__ import annotations

import dataclasses
from typing import Any

from qasid.api.admin.auth import government
from qasid.api.asgi import Request, Response
from qasid.api.http import client_ip, json_body, json_response, requester, require, route
from qasid.gov.scope import AdminScope

PREFIXES = ("/_matrix/client/v1", "/_matrix/client/unstable/uk.timedout.msc4323")


def _paths(suffix: str) -> list[str]:
    return [prefix + suffix for prefix in PREFIXES]


async def _server_admin(request: Request, *, with_body: bool = False) -> tuple[AdminScope, dict[str, Any]]:
    """The caller, if a national admin (403 otherwise), checked before the account is looked at; and the body."""
    who = await requester(request)
    body = await json_body(request) if with_body else {}
    gov = government(request)
    scope = gov.moderation.authorise(await gov.admin_scope(who.user_id, is_server_admin=who.is_admin))
    return dataclasses.replace(scope, device_id=who.device_id, source_ip=client_ip(request)), body


@route("GET", *_paths("/admin/lock/{userId}"))
async def get_lock(request: Request) -> Response:
    """GET /_matrix/client/v1/admin/lock/{userId}

    - {"locked": bool}: a locked account (qasid's "suspended") is refused every request with 401 M_USER_LOCKED.
    - National admins only (403 M_FORBIDDEN, before any lookup); 400 M_INVALID_PARAM for another
      server's user; 404 M_NOT_FOUND for an unknown or offboarded one; 403 for another admin.
    """
    scope, _ = await _server_admin(request)
    locked = await government(request).moderation.locked(scope, request.path_params["userId"])
    return json_response({"locked": locked})


@route("PUT", *_paths("/admin/lock/{userId}"))
async def put_lock(request: Request) -> Response:
    """PUT /_matrix/client/v1/admin/lock/{userId}

    - Body {"locked": bool}; answers the new state. Audited (account.suspend / account.unsuspend)
      in the same transaction. Refused as GET is.
    """
    scope, body = await _server_admin(request, with_body=True)
    locked = await government(request).moderation.set_locked(
        scope, request.path_params["userId"], require(body, "locked", bool))
    return json_response({"locked": locked})


@route("GET", *_paths("/admin/suspend/{userId}"))
async def get_suspension(request: Request) -> Response:
    """GET /_matrix/client/v1/admin/suspend/{userId}

    - {"suspended": bool}: a suspended account (qasid's "read-only") reads, and every write is
      refused with 403 M_USER_SUSPENDED. Refused as the lock endpoints are.
    """
    scope, _ = await _server_admin(request)
    suspended = await government(request).moderation.suspended(scope, request.path_params["userId"])
    return json_response({"suspended": suspended})


@route("PUT", *_paths("/admin/suspend/{userId}"))
async def put_suspension(request: Request) -> Response:
    """PUT /_matrix/client/v1/admin/suspend/{userId}

    - Body {"suspended": bool}; answers the new state. Audited (account.read_only /
      account.read_only_lifted) in the same transaction.
    """
    scope, body = await _server_admin(request, with_body=True)
    suspended = await government(request).moderation.set_suspended(
        scope, request.path_params["userId"], require(body, "suspended", bool))
    return json_response({"suspended": suspended})
