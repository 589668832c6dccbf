"""Reporting and leaving with real matrix-nio clients, over nio's own HTTP session (raw requests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import WhoamiError

from tests.e2e.nio_user import NioUser
from tests.gov.helpers import PASSWORD, Gov
from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


async def _raw(user: NioUser, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A request nio has no method for, sent through nio's own session with its access token."""
    response = await user.client.send(method, V3 + path, json.dumps(body), headers={
        "Authorization": f"Bearer {user.client.access_token}", "Content-Type": "application/json"})
    return response.status, await response.json()


async def test_nio_users_report_an_encrypted_message_and_one_leaves(server: ServerProcess, tmp_path: Path) -> None:
    gov = Gov(server)
    unit = gov.unit("MIN-R", self_deactivation=True)
    token = gov.enrollment_token(unit, uses_allowed=2)
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    try:
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        room_id = await alice.create_encrypted_room([bob.user_id])
        await bob.join(room_id)
        await alice.sync()
        event_id = await bob.send(room_id, "an improper remark")
        await alice.wait_for(room_id, "an improper remark")

        status, body = await _raw(alice, "POST", f"/rooms/{quote(room_id)}/report/{quote(event_id)}",
                                  {"reason": "improper"})
        assert (status, body) == (200, {})
        status, body = await _raw(alice, "POST", f"/users/{quote(bob.user_id)}/report", {"reason": "again"})
        assert (status, body) == (200, {})
        status, body = await _raw(alice, "POST", f"/rooms/{quote(room_id)}/report/%24missing", {"reason": "x"})
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND")
        reports = gov.ok("GET", "/reports")["reports"]
        assert [(r["kind"], r["reported_user"], r["unit_id"]) for r in reports] == [
            ("event", bob.user_id, unit), ("user", bob.user_id, unit)]
        shown = gov.ok("GET", f"/reports/{reports[0]['report_id']}")
        assert shown["event"]["type"] == "m.room.encrypted"  # the server never saw the words

        # Bob leaves on his own: the password through user-interactive auth, then gone.
        status, challenge = await _raw(bob, "POST", "/account/deactivate", {})
        assert status == 401 and {"stages": ["m.login.password"]} in challenge["flows"]
        status, body = await _raw(bob, "POST", "/account/deactivate", {"auth": {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": bob.user_id},
            "password": PASSWORD, "session": challenge["session"]}})
        assert (status, body) == (200, {"id_server_unbind_result": "no-support"})
        whoami = await bob.client.whoami()
        assert isinstance(whoami, WhoamiError) and whoami.status_code == "M_UNKNOWN_TOKEN", whoami
        await alice.sync()
        assert bob.user_id not in alice.client.rooms[room_id].users
        assert gov.ok("GET", "/audit?action=account.deactivate")["entries"][0]["actor"] == bob.user_id
    finally:
        await alice.close()
        await bob.close()
