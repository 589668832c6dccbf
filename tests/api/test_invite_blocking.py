"""Invite blocking (spec v1.18, MSC4380), against the real server over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


class User:
    def __init__(self, server: ServerProcess, name: str) -> None:
        login = server.register(name)
        self.user_id = login["user_id"]
        self.http = httpx.Client(base_url=server.base_url, timeout=30,
                                 headers={"authorization": f"Bearer {login['access_token']}"})

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, V3 + path, json=body)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(method, path, body)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def sliding_rooms(self) -> set[str]:
        body = {"lists": {"all": {"ranges": [[0, 99]], "timeline_limit": 1, "required_state": []}}}
        response = self.http.post(SLIDING, params={"timeout": 0}, json=body)
        assert response.status_code == 200, response.text
        return set(response.json().get("rooms", {}))

    def block_invites(self, block_all: Any, type_: str = "m.invite_permission_config") -> None:
        self.ok("PUT", f"/user/{self.user_id}/account_data/{type_}", {"block_all": block_all})


def assert_blocked(response: httpx.Response) -> None:
    assert (response.status_code, response.json().get("errcode")) == (403, "M_INVITE_BLOCKED"), response.text


def test_blocked_invitations_are_refused_everywhere_and_pending_ones_hidden(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    pending = alice.ok("POST", "/createRoom", {"invite": [bob.user_id]})["room_id"]
    room = alice.ok("POST", "/createRoom", {})["room_id"]
    assert pending in bob.ok("GET", "/sync")["rooms"]["invite"]
    assert pending in bob.sliding_rooms()

    bob.block_invites(True)
    rooms_before = alice.ok("GET", "/joined_rooms")["joined_rooms"]
    assert_blocked(alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id}))
    assert_blocked(alice.call("PUT", f"/rooms/{room}/state/m.room.member/{bob.user_id}", {"membership": "invite"}))
    assert_blocked(alice.call("POST", "/createRoom", {"invite": [bob.user_id]}))
    assert alice.ok("GET", "/joined_rooms")["joined_rooms"] == rooms_before  # the refused room was never made
    member = alice.call("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert member.status_code == 404, member.text
    assert pending not in bob.ok("GET", "/sync")["rooms"]["invite"]
    assert pending not in bob.sliding_rooms()

    # Any value but true lets invitations through again; the unstable type is honoured too.
    bob.block_invites("yes")
    alice.ok("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})
    assert room in bob.ok("GET", "/sync")["rooms"]["invite"]
    bob.block_invites(True, "org.matrix.msc4380.invite_permission_config")
    assert_blocked(alice.call("POST", "/createRoom", {"invite": [bob.user_id]}))
    # Blocking invitations limits nobody's own actions: bob may still invite alice.
    bobs = bob.ok("POST", "/createRoom", {})["room_id"]
    bob.ok("POST", f"/rooms/{bobs}/invite", {"user_id": alice.user_id})
