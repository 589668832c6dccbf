"""Who may call the admin API: an access token of a national or unit admin."""

from __future__ import annotations

import dataclasses

from qasid.api.asgi import Request
from qasid.api.http import client_ip, requester
from qasid.core.errors import MatrixError
from qasid.gov.government import Government
from qasid.gov.scope import AdminScope

__all__ = ["AdminScope", "government", "require_admin"]


def government(request: Request) -> Government:
    """The government layer attached to the app at assembly."""
    return request.app.state.gov  # type: ignore[no-any-return]


async def require_admin(request: Request) -> AdminScope:
    """The admin behind the request's access token and their scope; 403 for anyone else."""
    who = await requester(request)
    scope = await government(request).admin_scope(who.user_id, is_server_admin=who.is_admin)
    if scope is None:
        raise MatrixError(403, "M_FORBIDDEN", "You are not an administrator")
    return dataclasses.replace(scope, device_id=who.device_id, source_ip=client_ip(request))
