"""Lazy-loaded members in incremental syncs: each timeline sender's member event, once per device."""

from __future__ import annotations

import json
from typing import Any

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

LAZY = {"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 2}}}
REDUNDANT = {"room": {"state": {"lazy_load_members": True, "include_redundant_members": True},
                      "timeline": {"limit": 2}}}


def _sync(user: User, since: str | None, body: dict[str, Any] = LAZY) -> dict[str, Any]:
    params = {"timeout": "0", "filter": json.dumps(body)} | ({"since": since} if since else {})
    response = user.get("/sync", **params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _members(response: dict[str, Any], room_id: str) -> set[str]:
    room = response["rooms"]["join"].get(room_id, {"state": {"events": []}})
    return {e["state_key"] for e in room["state"]["events"] if e["type"] == "m.room.member"}


def test_a_sender_who_joined_before_since_is_sent_in_a_gappy_sync(server: ServerProcess) -> None:
    owner, quiet = new_user(server, "owner"), new_user(server, "quiet")
    room_id = owner.create_room(preset="public_chat")
    quiet.join(room_id)
    for i in range(3):
        owner.send(room_id, f"o{i}", {"msgtype": "m.text", "body": f"owner {i}"})
    first = _sync(owner, None)
    assert _members(first, room_id) == {owner.user_id}  # only the owner spoke in the timeline
    # `quiet` joined long before `since` and was never sent; now it speaks, in a gappy sync.
    for i in range(5):
        quiet.send(room_id, f"q{i}", {"msgtype": "m.text", "body": f"quiet {i}"})
    gappy = _sync(owner, first["next_batch"])
    assert gappy["rooms"]["join"][room_id]["timeline"]["limited"] is True
    assert quiet.user_id in _members(gappy, room_id)
    # Sent once: the next sync of the same device does not repeat it...
    quiet.send(room_id, "q-again", {"msgtype": "m.text", "body": "again"})
    again = _sync(owner, gappy["next_batch"])
    assert quiet.user_id not in _members(again, room_id)
    # ...unless the filter asks for redundant members.
    quiet.send(room_id, "q-third", {"msgtype": "m.text", "body": "third"})
    redundant = _sync(owner, again["next_batch"], REDUNDANT)
    assert quiet.user_id in _members(redundant, room_id)


def test_a_never_sent_sender_is_sent_in_an_incremental_sync_without_a_gap(server: ServerProcess) -> None:
    owner, quiet = new_user(server, "owner"), new_user(server, "quiet")
    room_id = owner.create_room(preset="public_chat")
    quiet.join(room_id)
    owner.send(room_id, "o", {"msgtype": "m.text", "body": "owner"})
    owner.send(room_id, "o2", {"msgtype": "m.text", "body": "owner again"})
    first = _sync(owner, None)
    assert quiet.user_id not in _members(first, room_id)
    quiet.send(room_id, "q", {"msgtype": "m.text", "body": "quiet"})
    later = _sync(owner, first["next_batch"])
    assert later["rooms"]["join"][room_id]["timeline"]["limited"] is False
    assert _members(later, room_id) == {quiet.user_id}


def test_another_device_and_a_retried_token_are_sent_the_member_again(server: ServerProcess) -> None:
    owner, quiet = new_user(server, "owner"), new_user(server, "quiet")
    room_id = owner.create_room(preset="public_chat")
    quiet.join(room_id)
    owner.send(room_id, "o", {"msgtype": "m.text", "body": "owner"})
    owner.send(room_id, "o2", {"msgtype": "m.text", "body": "owner again"})
    first = _sync(owner, None)
    quiet.send(room_id, "q", {"msgtype": "m.text", "body": "quiet"})
    sent = _sync(owner, first["next_batch"])
    assert quiet.user_id in _members(sent, room_id)
    # The answer may never have arrived: the same `since` again gets the member again.
    retried = _sync(owner, first["next_batch"])
    assert quiet.user_id in _members(retried, room_id)
