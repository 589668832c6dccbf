"""Simplified Sliding Sync (MSC4186) over real HTTP: what a connection is sent, and what it is not."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


class User:
    """A registered user with one device, and its sliding sync connection."""

    def __init__(self, server: ServerProcess, name: str) -> None:
        login = server.register(name)
        self.server = server
        self.user_id: str = login["user_id"]
        self.headers = {"authorization": f"Bearer {login['access_token']}"}
        self.pos: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.server.base_url + V3 + path, json=body, headers=self.headers, timeout=30)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def room(self, **body: Any) -> str:
        return str(self.call("POST", "/createRoom", body)["room_id"])

    def say(self, room_id: str, body: str) -> str:
        self.call("PUT", f"/rooms/{room_id}/send/m.room.message/{body.replace(' ', '_')}",
                  {"msgtype": "m.text", "body": body})
        return body

    def sliding(self, body: dict[str, Any], timeout: int = 0, pos: str | None = None) -> httpx.Response:
        params: dict[str, Any] = {"timeout": timeout}
        if pos or self.pos:
            params["pos"] = pos or self.pos
        return httpx.post(self.server.base_url + SLIDING, params=params, json=body, headers=self.headers, timeout=30)

    def sync(self, body: dict[str, Any], timeout: int = 0) -> dict[str, Any]:
        response = self.sliding(body, timeout)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        self.pos = data["pos"]
        return data


def all_rooms(limit: int = 5, *required: list[str], **filters: Any) -> dict[str, Any]:
    listed: dict[str, Any] = {"ranges": [[0, 99]], "timeline_limit": limit, "required_state": list(required)}
    if filters:
        listed["filters"] = filters
    return {"lists": {"all": listed}}


def bodies(room: dict[str, Any]) -> list[str]:
    return [e["content"].get("body") for e in room.get("timeline", []) if e["type"] == "m.room.message"]


def test_incremental_answers_carry_only_what_changed(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    quiet, busy = alice.room(name="quiet"), alice.room(name="busy")
    for room in (quiet, busy):
        alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})
        bob.call("POST", f"/join/{room}", {})
    for n in range(4):
        alice.say(busy, f"old {n}")
    first = bob.sync(all_rooms(2, ["m.room.name", ""]))
    assert first["lists"]["all"]["count"] == 2
    assert list(first["rooms"]) == [busy, quiet] or set(first["rooms"]) == {busy, quiet}
    assert first["rooms"][busy]["initial"] and first["rooms"][busy]["limited"]
    assert bodies(first["rooms"][busy]) == ["old 2", "old 3"]
    assert first["rooms"][busy]["name"] == "busy"
    assert first["rooms"][busy]["bump_stamp"] > first["rooms"][quiet]["bump_stamp"]

    alice.say(quiet, "new in quiet")
    second = bob.sync(all_rooms(2, ["m.room.name", ""]), timeout=5000)
    assert list(second["rooms"]) == [quiet], second["rooms"]
    room = second["rooms"][quiet]
    assert bodies(room) == ["new in quiet"] and room["num_live"] == 1 and not room["limited"]
    assert "initial" not in room and "name" not in room and "required_state" not in room
    assert room["bump_stamp"] > first["rooms"][busy]["bump_stamp"]
    # Nothing new: the long-poll times out with no room in it.
    assert bob.sync(all_rooms(2, ["m.room.name", ""]), timeout=300)["rooms"] == {}


def test_ranges_filters_and_subscriptions_choose_the_rooms(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    plain = alice.room(name="plain")
    encrypted = alice.room(name="secret", initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    space = alice.room(name="space", creation_content={"type": "m.space"})
    alice.call("PUT", f"/rooms/{space}/state/m.space.child/{plain}", {"via": ["qasid.test"]})
    dm = alice.room(invite=[bob.user_id], is_direct=True)
    alice.call("PUT", f"/user/{alice.user_id}/account_data/m.direct", {bob.user_id: [dm]})
    invited = bob.room(name="for alice", invite=[alice.user_id])

    def listed(**filters: Any) -> set[str]:
        body = all_rooms(0, **filters)
        data = alice.sliding(body).json()
        assert data["lists"]["all"]["count"] == len(data["rooms"]), data
        return set(data["rooms"])

    assert listed() == {plain, encrypted, space, dm, invited}
    assert listed(is_encrypted=True) == {encrypted}
    assert listed(is_dm=True) == {dm}
    assert listed(is_invite=True) == {invited}
    assert listed(is_invite=False) == {plain, encrypted, space, dm}
    assert listed(room_types=["m.space"]) == {space}
    assert listed(not_room_types=["m.space"], is_invite=False) == {plain, encrypted, dm}
    assert listed(spaces=[space]) == {plain}
    assert listed(room_name_like="SEC") == {encrypted}
    # A window of one, the newest room; a subscription adds a room outside it, one the user
    # isn't in is ignored.
    body = {"lists": {"top": {"ranges": [[0, 0]], "timeline_limit": 1, "required_state": []}},
            "room_subscriptions": {plain: {"timeline_limit": 3, "required_state": [["*", "*"]]},
                                   "!nowhere:qasid.test": {"timeline_limit": 1, "required_state": []}}}
    data = alice.sliding(body).json()
    assert data["lists"]["top"]["count"] == 5
    assert set(data["rooms"]) == {invited, plain}, data["rooms"].keys()
    assert {e["type"] for e in data["rooms"][plain]["required_state"]} >= {"m.room.create", "m.room.member"}
    # The invite shows only what its stripped state says.
    invite = data["rooms"][invited]
    assert invite["membership"] == "invite" and "timeline" not in invite and "required_state" not in invite
    assert {e["type"] for e in invite["invite_state"]} >= {"m.room.create", "m.room.member"}


def test_a_room_left_or_banned_from_gets_nothing_more(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    room = alice.room(name="ops", invite=[bob.user_id])
    bob.call("POST", f"/join/{room}", {})
    alice.say(room, "before")
    body = all_rooms(10, ["m.room.member", "$LAZY"])
    assert bodies(bob.sync(body)["rooms"][room]) == ["before"]
    alice.call("POST", f"/rooms/{room}/ban", {"user_id": bob.user_id, "reason": "left the service"})
    alice.say(room, "after the ban")
    banned = bob.sync(body, timeout=5000)["rooms"][room]
    assert banned["membership"] == "ban" and "after the ban" not in bodies(banned)
    alice.say(room, "still later")
    assert bob.sync(body, timeout=300)["rooms"] == {}
    # A new connection doesn't even list it.
    bob.pos = None
    assert room not in bob.sync(body)["rooms"]


def test_lazy_members_and_wider_windows(server: ServerProcess) -> None:
    alice, bob, carol = User(server, "alice"), User(server, "bob"), User(server, "carol")
    room = alice.room(name="three", invite=[bob.user_id, carol.user_id])
    for user in (bob, carol):
        user.call("POST", f"/join/{room}", {})
    for n in range(6):
        bob.say(room, f"bob {n}")
    body = all_rooms(1, ["m.room.member", "$LAZY"], ["m.room.member", "$ME"])
    first = alice.sync(body)["rooms"][room]
    members = {e["state_key"] for e in first["required_state"] if e["type"] == "m.room.member"}
    assert members == {bob.user_id, alice.user_id}  # the timeline's sender, and herself
    carol.say(room, "carol speaks")
    second = alice.sync(body, timeout=5000)["rooms"][room]
    assert {e["state_key"] for e in second.get("required_state", [])} == {carol.user_id}
    bob.say(room, "bob again")
    third = alice.sync(body, timeout=5000)["rooms"][room]
    assert "required_state" not in third  # bob's member event was sent already
    # Asking for more of the timeline brings the older events at once, marked as such.
    wider = alice.sync(all_rooms(5, ["m.room.member", "$LAZY"], ["m.room.member", "$ME"]), timeout=5000)
    assert wider["rooms"][room]["unstable_expanded_timeline"] is True
    assert len(bodies(wider["rooms"][room])) == 5


def test_to_device_messages_go_only_once_acknowledged(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    bob_device = bob.call("GET", "/account/whoami")["device_id"]
    for n in range(3):
        alice.call("PUT", f"/sendToDevice/m.test/t{n}", {"messages": {bob.user_id: {bob_device: {"n": n}}}})

    def to_device(since: str | None) -> dict[str, Any]:
        extension: dict[str, Any] = {"enabled": True, "limit": 2}
        if since is not None:
            extension["since"] = since
        return dict(bob.sync({"extensions": {"to_device": extension}})["extensions"]["to_device"])

    first = to_device(None)
    assert [e["content"]["n"] for e in first["events"]] == [0, 1]
    # Not acknowledged: the same messages again.
    assert [e["content"]["n"] for e in to_device(None)["events"]] == [0, 1]
    second = to_device(first["next_batch"])
    assert [e["content"]["n"] for e in second["events"]] == [2]
    assert to_device(second["next_batch"])["events"] == []


def test_an_unknown_pos_is_m_unknown_pos_and_a_new_connection_starts(server: ServerProcess) -> None:
    alice = User(server, "alice")
    alice.room(name="one")
    first = alice.sync(all_rooms())
    for pos in ("garbage", "00000000.1", first["pos"].split(".")[0] + ".999"):
        refused = alice.sliding(all_rooms(), pos=pos)
        assert refused.status_code == 400 and refused.json()["errcode"] == "M_UNKNOWN_POS", refused.text
    # The last pos stays usable until a newer one is used (the client may retry it).
    assert alice.sliding(all_rooms(), pos=first["pos"]).status_code == 200
    assert alice.sliding(all_rooms(), pos=first["pos"]).status_code == 200
    # Another conn_id is another connection: this one's pos means nothing there.
    other = alice.sliding({**all_rooms(), "conn_id": "other"}, pos=first["pos"])
    assert other.status_code == 400 and other.json()["errcode"] == "M_UNKNOWN_POS"


def test_history_visibility_hides_the_past_from_a_late_joiner(server: ServerProcess) -> None:
    alice, bob = User(server, "alice"), User(server, "bob")
    room = alice.room(name="confidential", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}])
    alice.say(room, "before bob")
    alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})
    bob.call("POST", f"/join/{room}", {})
    alice.say(room, "after bob")
    seen = bob.sync(all_rooms(20))["rooms"][room]
    assert bodies(seen) == ["after bob"] and seen["limited"] is True, seen
