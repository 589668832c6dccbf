"""Capabilities: what this server lets clients change."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_response, requester, route, services
from qasid.core.membership import SUPPORTED_ROOM_VERSIONS
from qasid.core.pdu import ROOM_VERSION

# Only versions /createRoom accepts: advertising others would invite upgrades that fail.
AVAILABLE_ROOM_VERSIONS = {version: "stable" for version in SUPPORTED_ROOM_VERSIONS}


@route("GET", *client_paths("/capabilities"))
async def get_capabilities(request: Request) -> Response:
    """GET /_matrix/client/v3/capabilities

    - Password change on, except for an account whose password the government directory holds;
      display name and avatar changes on; third-party IDs off.
    - The room versions /createRoom accepts are stable; new rooms are created as version 11.
    - m.account_moderation (lock and suspend, spec v1.18) only for national admins, who may use
      /admin/lock and /admin/suspend; absent for everyone else, as the spec asks.
    - m.forget_forced_upon_leave is off: a room left stays in the history until forgotten.
    """
    who = await requester(request)
    scope = await government(request).admin_scope(who.user_id, is_server_admin=who.is_admin)
    moderation = {"m.account_moderation": {"lock": True, "suspend": True}} if scope and scope.is_national else {}
    return json_response({"capabilities": {
        "m.change_password": {"enabled": services(request).accounts.password_is_local(who.user_id)},
        "m.room_versions": {"default": ROOM_VERSION, "available": AVAILABLE_ROOM_VERSIONS},
        "m.set_displayname": {"enabled": True},
        "m.set_avatar_url": {"enabled": True},
        "m.3pid_changes": {"enabled": False},
        "m.profile_fields": {"enabled": True, "allowed": ["displayname", "avatar_url"]},
        "m.get_login_token": {"enabled": False},
        "m.forget_forced_upon_leave": {"enabled": False},
        **moderation,
    }})
