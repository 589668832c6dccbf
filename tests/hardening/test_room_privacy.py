"""Item 14: someone outside a private room who knows its ID learns nothing of it; ephemeral writes need
membership; /keys/query and /keys/claim reveal nothing about users who share no room.

(tests/api/test_e2ee.py::test_query_only_shows_users_sharing_a_room covers /keys/query for a
stranger; here it is repeated for a user who left and for /keys/claim, next to the room reads.)
Outsiders here are: a user who never had anything to do with the room, one who was banned
without ever joining, and one who was invited and declined. None of them was ever joined, so
none may read the room's history, members or state — only its stripped invite state, as invited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.e2ee_helpers import Device
from tests.hardening.client import User, new_user
from tests.server import ServerProcess

ROOM_NAME = "Budget committee — restricted"
TOPIC = "Draft figures for the 2026 budget"
SECRET = "The minister will resign on Friday"


@dataclass
class Room:
    server: ServerProcess
    owner: User
    member: User
    room_id: str
    event_id: str
    outsiders: dict[str, User]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    server = ServerProcess(tmp_path_factory.mktemp("privacy") / "data")
    server.start()
    try:
        owner, member = new_user(server, "owner"), new_user(server, "member")
        stranger, banned, decliner = (new_user(server, name) for name in ("stranger", "banned", "decliner"))
        room_id = owner.create_room(name=ROOM_NAME, topic=TOPIC, preset="private_chat",
                                    invite=[member.user_id, decliner.user_id])
        member.join(room_id)
        event_id = owner.send(room_id, "secret", {"msgtype": "m.text", "body": SECRET})
        assert owner.post(f"/rooms/{room_id}/ban", {"user_id": banned.user_id}).status_code == 200
        assert decliner.post(f"/rooms/{room_id}/leave").status_code == 200
        owner.send(room_id, "later", {"msgtype": "m.text", "body": SECRET + " (later)"})
        yield Room(server, owner, member, room_id, event_id,
                   {"stranger": stranger, "banned": banned, "decliner": decliner})
    finally:
        server.stop()


READS = [
    "/rooms/{room}/members", "/rooms/{room}/joined_members", "/rooms/{room}/state",
    "/rooms/{room}/state/m.room.name/", "/rooms/{room}/state/m.room.topic",
    "/rooms/{room}/state/m.room.member/{owner}", "/rooms/{room}/messages",
    "/rooms/{room}/messages?dir=f", "/rooms/{room}/context/{event}", "/rooms/{room}/event/{event}",
    "/rooms/{room}/aliases", "/rooms/{room}/members?at=t999999",
    "/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts=0&dir=f",
    "/_matrix/client/v1/rooms/{room}/relations/{event}", "/_matrix/client/v1/rooms/{room}/relations/{event}/m.thread",
    "/_matrix/client/v1/rooms/{room}/relations/{event}?recurse=true", "/_matrix/client/v1/rooms/{room}/threads",
]


def leaks(room: Room, response: httpx.Response) -> list[str]:
    text = response.text
    found = [s for s in (ROOM_NAME, TOPIC, SECRET, room.owner.user_id, room.member.user_id, room.event_id)
             if s in text]
    return found


@pytest.mark.parametrize("outsider", ["stranger", "banned", "decliner"])
@pytest.mark.parametrize("path", READS)
def test_outsiders_read_nothing_of_the_room(room: Room, outsider: str, path: str) -> None:
    who = room.outsiders[outsider]
    url = path.format(room=room.room_id, event=room.event_id, owner=room.owner.user_id)
    response = who.request("GET", url)
    assert response.status_code in (403, 404), f"{response.status_code}: {response.text[:500]}"
    assert response.json()["errcode"] in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNRECOGNIZED")
    assert not leaks(room, response), response.text[:500]
    # The answer is the same as for a room that doesn't exist: not even existence shows.
    ghost = who.request("GET", url.replace(room.room_id, "!doesnotexist:qasid.test"))
    assert (response.status_code, response.json()["errcode"]) == (ghost.status_code, ghost.json()["errcode"])


@pytest.mark.parametrize("outsider", ["stranger", "banned", "decliner"])
def test_outsiders_neither_search_nor_report_the_room(room: Room, outsider: str) -> None:
    who = room.outsiders[outsider]
    for term in ("minister resign", "budget committee", "draft figures"):
        found = who.post("/search", {"search_categories": {"room_events": {
            "search_term": term, "include_state": True, "event_context": {"before_limit": 5}}}})
        assert found.status_code == 200, found.text
        assert found.json()["search_categories"]["room_events"]["count"] == 0
        assert not leaks(room, found), found.text[:500]
    for path, body in ((f"/rooms/{room.room_id}/report/{room.event_id}", {"reason": "x"}),
                       (f"/rooms/{room.room_id}/report", {"reason": "x"})):
        response = who.post(path, body)
        ghost = who.post(path.replace(room.room_id, "!doesnotexist:qasid.test"), body)
        assert response.status_code == 404 and not leaks(room, response), response.text[:500]
        assert (response.status_code, response.json()["errcode"]) == (ghost.status_code, ghost.json()["errcode"])


@pytest.mark.parametrize("outsider", ["stranger", "banned", "decliner"])
def test_outsiders_sync_shows_nothing_of_the_room(room: Room, outsider: str) -> None:
    sync = room.outsiders[outsider].sync()
    assert room.room_id not in sync["rooms"]["join"]
    assert room.room_id not in sync["rooms"]["invite"]
    assert not any(s in str(sync) for s in (SECRET, TOPIC))


def test_members_still_read_everything(room: Room) -> None:
    """The refusals above are about membership, not a broken endpoint."""
    for path in READS[:-1]:
        url = path.format(room=room.room_id, event=room.event_id, owner=room.owner.user_id)
        if "aliases" in url:
            continue
        assert room.member.request("GET", url).status_code == 200, url


@pytest.mark.parametrize("outsider", ["stranger", "banned", "decliner"])
def test_receipts_read_markers_and_typing_need_membership(room: Room, outsider: str) -> None:
    who = room.outsiders[outsider]
    since = room.owner.sync()["next_batch"]
    attempts = [
        who.post(f"/rooms/{room.room_id}/receipt/m.read/{room.event_id}", {}),
        who.post(f"/rooms/{room.room_id}/receipt/m.read.private/{room.event_id}", {}),
        who.post(f"/rooms/{room.room_id}/receipt/m.fully_read/{room.event_id}", {}),
        who.post(f"/rooms/{room.room_id}/read_markers", {"m.fully_read": room.event_id, "m.read": room.event_id}),
        who.put(f"/rooms/{room.room_id}/typing/{who.user_id}", {"typing": True, "timeout": 30000}),
        who.put(f"/rooms/{room.room_id}/typing/{room.owner.user_id}", {"typing": True, "timeout": 30000}),
        room.member.put(f"/rooms/{room.room_id}/typing/{room.owner.user_id}", {"typing": True}),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["errcode"] == "M_FORBIDDEN"
    joined = room.owner.sync(since)["rooms"]["join"].get(room.room_id, {})
    assert joined.get("ephemeral", {}).get("events", []) == []


@pytest.mark.parametrize("outsider", ["stranger", "banned", "decliner"])
def test_keys_of_users_sharing_no_room_stay_hidden(room: Room, outsider: str) -> None:
    owner = Device(room.server, {"user_id": room.owner.user_id, "device_id": room.owner.device_id,
                                 "access_token": room.owner.token})
    if owner.upload().json()["one_time_key_counts"]["signed_curve25519"] == 0:
        assert owner.upload(device_keys=owner.device_keys(), one_time_keys=owner.one_time_keys(5)).status_code == 200
    who = room.outsiders[outsider]
    queried = who.post("/keys/query", {"device_keys": {room.owner.user_id: []}})
    assert queried.status_code == 200
    body = queried.json()
    assert body["device_keys"].get(room.owner.user_id, {}) == {}
    assert room.owner.user_id not in body.get("master_keys", {})
    assert room.owner.device_id not in queried.text
    claimed = who.post("/keys/claim", {"one_time_keys": {room.owner.user_id: {room.owner.device_id:
                                                                              "signed_curve25519"}}})
    assert claimed.status_code == 200
    assert claimed.json()["one_time_keys"].get(room.owner.user_id, {}) == {}
    assert owner.upload().json()["one_time_key_counts"]["signed_curve25519"] == 5
    # The member sees them: the filter is about sharing a room.
    seen = room.member.post("/keys/query", {"device_keys": {room.owner.user_id: []}}).json()
    assert room.owner.device_id in seen["device_keys"][room.owner.user_id]


def test_a_declined_invite_syncs_no_history(room: Room) -> None:
    """Invited is not joined: declining delivers the leave, not what was said while invited."""
    invitee = new_user(room.server, "invitee")
    assert room.owner.post(f"/rooms/{room.room_id}/invite", {"user_id": invitee.user_id}).status_code == 200
    since = invitee.sync()["next_batch"]
    room.owner.send(room.room_id, "while-invited", {"msgtype": "m.text", "body": SECRET + " (while invited)"})
    assert invitee.post(f"/rooms/{room.room_id}/leave").status_code == 200
    sync = invitee.sync(since)
    assert SECRET not in str(sync)
    left = sync["rooms"]["leave"].get(room.room_id, {})
    assert [e["type"] for e in left.get("timeline", {}).get("events", [])] in ([], ["m.room.member"])


def test_a_past_member_reads_up_to_leaving_only(room: Room) -> None:
    leaver = new_user(room.server, "leaver")
    assert room.owner.post(f"/rooms/{room.room_id}/invite", {"user_id": leaver.user_id}).status_code == 200
    leaver.join(room.room_id)
    before = room.owner.send(room.room_id, "before-leaving", {"msgtype": "m.text", "body": "seen"})
    assert leaver.post(f"/rooms/{room.room_id}/leave").status_code == 200
    after = room.owner.send(room.room_id, "after-leaving", {"msgtype": "m.text", "body": "not seen"})
    history = [e["event_id"] for e in leaver.get(f"/rooms/{room.room_id}/messages", limit=100).json()["chunk"]]
    assert before in history and after not in history
    assert leaver.get(f"/rooms/{room.room_id}/event/{after}").status_code == 404
