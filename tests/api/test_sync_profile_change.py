"""A new display name or avatar is a join → join member event: /sync sends that event, not the room again."""

from __future__ import annotations

from tests.hardening.client import new_user
from tests.server import ServerProcess


def test_a_profile_change_is_not_a_new_join(server: ServerProcess) -> None:
    owner, member = new_user(server, "owner"), new_user(server, "member")
    room_id = owner.create_room(preset="private_chat", invite=[member.user_id])
    member.join(room_id)
    owner.send(room_id, "hello", {"msgtype": "m.text", "body": "hello"})
    since = member.sync()["next_batch"]
    for path, body in (("displayname", {"displayname": "Member Renamed"}),
                       ("avatar_url", {"avatar_url": "mxc://qasid.test/new"})):
        assert member.put(f"/profile/{member.user_id}/{path}", body).status_code == 200
        room = member.sync(since)["rooms"]["join"][room_id]
        events = room["timeline"]["events"]
        assert [(e["type"], e["state_key"]) for e in events] == [("m.room.member", member.user_id)], events
        assert room["timeline"]["limited"] is False
        assert room["state"]["events"] == []
        since = member.sync()["next_batch"]
    # A real join after `since` still brings the room's history along.
    late = new_user(server, "late")
    assert owner.post(f"/rooms/{room_id}/invite", {"user_id": late.user_id}).status_code == 200
    since = late.sync()["next_batch"]
    late.join(room_id)
    joined = late.sync(since)["rooms"]["join"][room_id]
    assert any(e["type"] == "m.room.create" for e in joined["timeline"]["events"] + joined["state"]["events"])
