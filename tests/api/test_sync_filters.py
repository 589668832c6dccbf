"""/sync and /messages apply the whole filter language, over HTTP against the real server."""

from __future__ import annotations

import json
from typing import Any

from tests.hardening.client import User, new_user
from tests.server import ServerProcess


def _sync(user: User, body: dict[str, Any] | str, since: str | None = None) -> dict[str, Any]:
    params = {"timeout": "0", "filter": body if isinstance(body, str) else json.dumps(body)}
    response = user.get("/sync", **params | ({"since": since} if since else {}))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _world(server: ServerProcess) -> tuple[User, User, str, str]:
    owner, member = new_user(server, "owner"), new_user(server, "member")
    room_id = owner.create_room(preset="public_chat")
    other_room = owner.create_room(preset="public_chat")
    member.join(room_id)
    member.join(other_room)
    owner.send(room_id, "t1", {"msgtype": "m.text", "body": "from owner"})
    member.send(room_id, "t2", {"msgtype": "m.image", "body": "pic", "url": "mxc://qasid.test/pic"})
    owner.put(f"/rooms/{room_id}/send/org.example.custom/t3", {"x": 1})
    member.send(other_room, "t4", {"msgtype": "m.text", "body": "elsewhere"})
    return owner, member, room_id, other_room


def _timeline(response: dict[str, Any], room_id: str) -> list[dict[str, Any]]:
    return response["rooms"]["join"][room_id]["timeline"]["events"]  # type: ignore[no-any-return]


def test_timeline_conditions(server: ServerProcess) -> None:
    owner, member, room_id, other_room = _world(server)
    types = _sync(owner, {"room": {"timeline": {"types": ["m.room.message"]}}})
    assert {e["type"] for e in _timeline(types, room_id)} == {"m.room.message"}
    wildcard = _sync(owner, {"room": {"timeline": {"types": ["org.example.*"]}}})
    assert [e["type"] for e in _timeline(wildcard, room_id)] == ["org.example.custom"]
    not_types = _sync(owner, {"room": {"timeline": {"not_types": ["m.room.message", "m.room.member"]}}})
    assert not {"m.room.message", "m.room.member"} & {e["type"] for e in _timeline(not_types, room_id)}
    senders = _sync(owner, {"room": {"timeline": {"senders": [member.user_id]}}})
    assert {e["sender"] for e in _timeline(senders, room_id)} == {member.user_id}
    not_senders = _sync(owner, {"room": {"timeline": {"not_senders": [owner.user_id]}}})
    assert owner.user_id not in {e["sender"] for e in _timeline(not_senders, room_id)}
    with_url = _sync(owner, {"room": {"timeline": {"contains_url": True}}})
    assert [e["content"]["url"] for e in _timeline(with_url, room_id)] == ["mxc://qasid.test/pic"]
    without_url = _sync(owner, {"room": {"timeline": {"contains_url": False}}})
    assert all("url" not in e["content"] for e in _timeline(without_url, room_id))
    # The limit counts matching events only: the two messages, however much else is newer.
    limited = _sync(owner, {"room": {"timeline": {"limit": 2, "types": ["m.room.message"]}}})
    assert [e["content"]["body"] for e in _timeline(limited, room_id)] == ["from owner", "pic"]
    timeline_rooms = _sync(owner, {"room": {"timeline": {"not_rooms": [room_id]}}})
    assert _timeline(timeline_rooms, room_id) == [] and _timeline(timeline_rooms, other_room)


def test_rooms_state_and_account_data(server: ServerProcess) -> None:
    owner, member, room_id, other_room = _world(server)
    only = _sync(owner, {"room": {"rooms": [room_id]}})
    assert set(only["rooms"]["join"]) == {room_id}
    excluded = _sync(owner, {"room": {"not_rooms": [room_id]}})
    assert set(excluded["rooms"]["join"]) == {other_room}
    state = _sync(owner, {"room": {"state": {"types": ["m.room.create"]}, "timeline": {"limit": 1}}})
    assert {e["type"] for e in state["rooms"]["join"][room_id]["state"]["events"]} == {"m.room.create"}
    state_limit = _sync(owner, {"room": {"state": {"limit": 2}, "timeline": {"limit": 1}}})
    assert len(state_limit["rooms"]["join"][room_id]["state"]["events"]) == 2
    assert owner.put(f"/user/{owner.user_id}/account_data/org.example.a", {"a": 1}).status_code == 200
    assert owner.put(f"/user/{owner.user_id}/rooms/{room_id}/account_data/org.example.b", {"b": 1}).status_code \
        == 200
    data = _sync(owner, {"account_data": {"types": ["org.example.a"]},
                         "room": {"account_data": {"not_types": ["org.example.b"]}}})
    assert [e["type"] for e in data["account_data"]["events"]] == ["org.example.a"]
    assert data["rooms"]["join"][room_id]["account_data"]["events"] == []
    # Receipts are ephemeral: an ephemeral filter of m.typing only leaves them out.
    event_id = _timeline(_sync(owner, {}), room_id)[-1]["event_id"]
    assert member.post(f"/rooms/{room_id}/receipt/m.read/{event_id}", {}).status_code == 200
    with_receipts = _sync(owner, {})
    assert [e["type"] for e in with_receipts["rooms"]["join"][room_id]["ephemeral"]["events"]] == ["m.receipt"]
    no_receipts = _sync(owner, {"room": {"ephemeral": {"types": ["m.typing"]}}})
    assert no_receipts["rooms"]["join"][room_id]["ephemeral"]["events"] == []


def test_event_fields_and_format(server: ServerProcess) -> None:
    owner, _, room_id, _ = _world(server)
    created = owner.post(f"/user/{owner.user_id}/filter",
                         {"event_fields": ["type", "content.body"], "room": {"timeline": {"limit": 2}}})
    assert created.status_code == 200, created.text
    shaped = _sync(owner, created.json()["filter_id"])
    assert _timeline(shaped, room_id) == [{"type": "m.room.message", "content": {"body": "pic"}},
                                          {"type": "org.example.custom"}]
    federation = _sync(owner, {"event_format": "federation", "room": {"timeline": {"limit": 1}}})
    event = _timeline(federation, room_id)[0]
    assert event["room_id"] == room_id and "depth" in event and "auth_events" in event and "hashes" in event


def test_messages_filter(server: ServerProcess) -> None:
    owner, member, room_id, _ = _world(server)
    for i in range(15):
        owner.send(room_id, f"n{i}", {"msgtype": "m.text", "body": f"noise {i}"})
    params = {"dir": "b", "limit": "1", "filter": json.dumps({"senders": [member.user_id]})}
    page = owner.get(f"/rooms/{room_id}/messages", **params)
    assert page.status_code == 200, page.text
    # Fifteen newer events of another sender are read past to fill the page.
    assert [e["content"].get("body") for e in page.json()["chunk"]] == ["pic"]
    params = {"dir": "b", "limit": "50", "filter": json.dumps({"types": ["m.room.message"], "not_senders":
                                                               [owner.user_id], "contains_url": True})}
    chunk = owner.get(f"/rooms/{room_id}/messages", **params).json()["chunk"]
    assert [e["content"]["body"] for e in chunk] == ["pic"]
    params = {"dir": "b", "limit": "50", "filter": json.dumps({"limit": 3})}
    assert len(owner.get(f"/rooms/{room_id}/messages", **params).json()["chunk"]) == 3
    params = {"dir": "b", "filter": json.dumps({"not_rooms": [room_id]})}
    assert owner.get(f"/rooms/{room_id}/messages", **params).json()["chunk"] == []
