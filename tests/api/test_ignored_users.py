"""m.ignored_user_list: an ignored user's invites and messages stop reaching the one who ignores them."""

from __future__ import annotations

import json
from typing import Any

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

SS_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


def _ignore(user: User, *user_ids: str) -> None:
    body = {"ignored_users": {u: {} for u in user_ids}}
    assert user.put(f"/user/{user.user_id}/account_data/m.ignored_user_list", body).status_code == 200


def _bodies(events: list[dict[str, Any]]) -> list[str]:
    return [e["content"]["body"] for e in events if e["type"] == "m.room.message"]


def test_ignored_users_are_hidden_everywhere_until_unignored(server: ServerProcess) -> None:
    me, pest, friend = new_user(server, "me"), new_user(server, "pest"), new_user(server, "friend")
    room_id = friend.create_room(preset="public_chat")
    me.join(room_id)
    pest.join(room_id)
    _ignore(me, pest.user_id)
    since = me.sync()["next_batch"]
    pest_event = pest.send(room_id, "p1", {"msgtype": "m.text", "body": "from the pest"})
    friend.send(room_id, "f1", {"msgtype": "m.text", "body": "from a friend"})
    assert pest.put(f"/profile/{pest.user_id}/displayname", {"displayname": "Pest"}).status_code == 200
    # An invite from the ignored user is never sent.
    pest_room = pest.create_room(preset="private_chat", invite=[me.user_id])

    incremental = me.sync(since)
    timeline = incremental["rooms"]["join"][room_id]["timeline"]["events"]
    assert _bodies(timeline) == ["from a friend"]
    # Their state events still are: the room's state must stay right.
    assert any(e["type"] == "m.room.member" and e["content"].get("displayname") == "Pest" for e in timeline)
    assert pest_room not in incremental["rooms"]["invite"]
    initial = me.sync()
    assert pest_room not in initial["rooms"]["invite"]
    assert "from the pest" not in _bodies(initial["rooms"]["join"][room_id]["timeline"]["events"])

    messages = me.get(f"/rooms/{room_id}/messages", dir="b", limit=50)
    assert messages.status_code == 200
    assert "from the pest" not in _bodies(messages.json()["chunk"])
    assert me.get(f"/rooms/{room_id}/context/{pest_event}").status_code == 404
    friend_event = next(e for e in messages.json()["chunk"] if e["type"] == "m.room.message")["event_id"]
    context = me.get(f"/rooms/{room_id}/context/{friend_event}", limit=10).json()
    assert "from the pest" not in _bodies(context["events_before"] + context["events_after"])

    sliding = me.post(SS_PATH, {"lists": {"all": {"ranges": [[0, 10]], "timeline_limit": 10, "required_state": []}}})
    assert sliding.status_code == 200, sliding.text
    rooms = sliding.json()["rooms"]
    assert pest_room not in rooms
    assert _bodies(rooms[room_id]["timeline"]) == ["from a friend"]

    # Un-ignoring: the new list reaches the client (its cue to sync afresh), and the pest is seen again.
    since = initial["next_batch"]
    _ignore(me)
    after = me.sync(since)
    lists = [e for e in after["account_data"]["events"] if e["type"] == "m.ignored_user_list"]
    assert lists == [{"type": "m.ignored_user_list", "content": {"ignored_users": {}}}]
    fresh = me.sync()
    assert "from the pest" in _bodies(fresh["rooms"]["join"][room_id]["timeline"]["events"])
    assert pest_room in fresh["rooms"]["invite"]
    assert me.get(f"/rooms/{room_id}/context/{pest_event}").status_code == 200


def test_a_malformed_ignore_list_is_refused(server: ServerProcess) -> None:
    me = new_user(server, "me")
    for body in ({"ignored_users": []}, {"ignored_users": {"not-a-user": {}}}, {}):
        response = me.put(f"/user/{me.user_id}/account_data/m.ignored_user_list", body)
        assert (response.status_code, response.json()["errcode"]) == (400, "M_BAD_JSON"), json.dumps(body)
