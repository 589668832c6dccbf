"""Who is a user, for their administrators: devices, sessions and the addresses they were seen from."""

from __future__ import annotations

from typing import Any

from qasid.core.accounts import AccountService
from qasid.core.device_sessions import Requester
from qasid.core.errors import forbidden
from qasid.core.ids import parse_user_id


async def whois(accounts: AccountService, requester: Requester, user_id: str) -> dict[str, Any]:
    """GET /admin/whois/{userId}: one session per device (a device holds one access token), with
    the last address and time it was seen; the user agent is not kept.

    Users may ask about themselves; admins about those the policy says they administer. Anyone
    else is 403, whether or not the user exists.
    """
    parse_user_id(user_id)
    if user_id != requester.user_id and not await accounts.policy.administers(
            requester.user_id, requester.is_admin, user_id):
        raise forbidden("You may only look up yourself or the accounts you administer")
    devices: dict[str, Any] = {}
    for device in await accounts.store.list_devices(user_id):
        connection: dict[str, Any] = {}
        if device.last_seen_ip:
            connection["ip"] = device.last_seen_ip
        if device.last_seen_ts is not None:
            connection["last_seen"] = device.last_seen_ts
        devices[device.device_id] = {"sessions": [{"connections": [connection] if connection else []}]}
    return {"user_id": user_id, "devices": devices}
