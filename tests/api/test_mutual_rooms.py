"""GET /_matrix/client/v1/mutual_rooms (spec v1.19), against the real server over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
MUTUAL = "/_matrix/client/v1/mutual_rooms"


class User:
    def __init__(self, server: ServerProcess, name: str) -> None:
        login = server.register(name)
        self.user_id = login["user_id"]
        self.http = httpx.Client(base_url=server.base_url, timeout=30,
                                 headers={"authorization": f"Bearer {login['access_token']}"})

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, V3 + path, json=body)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def room(self, *joined: User, invited: tuple[User, ...] = ()) -> str:
        room_id: str = self.ok("POST", "/createRoom", {"invite": [u.user_id for u in (*joined, *invited)]})["room_id"]
        for member in joined:
            member.ok("POST", f"/join/{room_id}", {})
        return room_id

    def mutual(self, **params: str) -> httpx.Response:
        return self.http.get(MUTUAL, params=params)


def test_only_rooms_both_are_joined_to_now(server: ServerProcess) -> None:
    alice, bob, carol, dave = (User(server, name) for name in ("alice", "bob", "carol", "dave"))
    shared = sorted([alice.room(bob), alice.room(bob, carol)])
    left = alice.room(bob)
    bob.ok("POST", f"/rooms/{left}/leave", {})
    banned = alice.room(bob)
    alice.ok("POST", f"/rooms/{banned}/ban", {"user_id": bob.user_id})
    alice.room(invited=(bob,))          # invited only
    alice.room(carol)                   # bob never in it
    bob.room(dave)                      # alice never in it: not hers to learn about
    kicked_then_rejoined = alice.room(dave)
    alice.ok("POST", f"/rooms/{kicked_then_rejoined}/kick", {"user_id": dave.user_id})

    answer = alice.mutual(user_id=bob.user_id)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"joined": shared, "count": 2}
    assert bob.mutual(user_id=alice.user_id).json() == {"joined": shared, "count": 2}
    # Rooms the other shares with someone else are not the caller's to see.
    assert alice.mutual(user_id=dave.user_id).json() == {"joined": [], "count": 0}
    assert carol.mutual(user_id=dave.user_id).json() == {"joined": [], "count": 0}
    assert dave.mutual(user_id=carol.user_id).json() == {"joined": [], "count": 0}
    # An unknown account shares nothing; the answer is the same as for a stranger: no oracle.
    assert alice.mutual(user_id=f"@ghost:{server.server_name}").json() == {"joined": [], "count": 0}
    assert alice.mutual(user_id="@bob:elsewhere.example").json() == {"joined": [], "count": 0}
    # The token is where the previous page ended.
    assert alice.mutual(user_id=bob.user_id, **{"from": shared[0]}).json() == {"joined": shared[1:], "count": 2}


def test_bad_requests(server: ServerProcess) -> None:
    alice = User(server, "alice")
    cases = [
        ({}, "M_MISSING_PARAM"),
        ({"user_id": ""}, "M_INVALID_PARAM"),
        ({"user_id": "bob"}, "M_INVALID_PARAM"),
        ({"user_id": "@" + "b" * 300 + ":qasid.test"}, "M_INVALID_PARAM"),
        ({"user_id": alice.user_id}, "M_INVALID_PARAM"),
        ({"user_id": "@bob:qasid.test", "from": "garbage"}, "M_INVALID_PARAM"),
        ({"user_id": "@bob:qasid.test", "from": "!" + "x" * 300}, "M_INVALID_PARAM"),
    ]
    for params, errcode in cases:
        response = alice.mutual(**params)
        assert (response.status_code, response.json()["errcode"]) == (400, errcode), (params, response.text)
    assert httpx.get(server.base_url + MUTUAL, params={"user_id": "@bob:qasid.test"}).status_code == 401
