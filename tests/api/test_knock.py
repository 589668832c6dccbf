"""Knocking over HTTP: POST /knock, what the room and the knocker see in /sync and sliding sync,
acceptance by invite, refusal by kick, withdrawal by leave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

SS_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(Path(tmp_path_factory.mktemp("knock")) / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


_count = iter(range(1000))


def user(server: ServerProcess, name: str) -> User:
    return new_user(server, f"{name}{next(_count)}")


def knock_room(owner: User, rule: str = "knock", **extra: Any) -> str:
    return owner.create_room(preset="private_chat", name="Help desk", initial_state=[
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": rule}}], **extra)


def member_events(events: list[dict[str, Any]], user_id: str) -> list[str]:
    return [e["content"]["membership"] for e in events if e["type"] == "m.room.member" and e["state_key"] == user_id]


def test_knock_is_seen_and_accepted(shared_server: ServerProcess) -> None:
    owner, knocker = user(shared_server, "owner"), user(shared_server, "knocker")
    alias_name = f"desk{next(_count)}"
    room_id = knock_room(owner, room_alias_name=alias_name)
    alias = f"#{alias_name}:{owner.user_id.split(':', 1)[1]}"
    owner_since = owner.sync()["next_batch"]
    knocker_since = knocker.sync()["next_batch"]

    knocked = knocker.post(f"/knock/{quote(alias)}", {"reason": "I need the forms"},
                           params={"via": "qasid.test", "server_name": "qasid.test"})
    assert knocked.status_code == 200, knocked.text
    assert knocked.json() == {"room_id": room_id}

    # The room's members see the knock, with its reason, in their timeline.
    timeline = owner.sync(owner_since)["rooms"]["join"][room_id]["timeline"]["events"]
    knock_event = next(e for e in timeline if e["type"] == "m.room.member" and e["state_key"] == knocker.user_id)
    assert knock_event["content"]["membership"] == "knock"
    assert knock_event["content"]["reason"] == "I need the forms"
    # The knocker sees the room under rooms.knock with stripped state, and nothing of its timeline.
    sync = knocker.sync(knocker_since)
    knock_state = sync["rooms"]["knock"][room_id]["knock_state"]["events"]
    types = {(e["type"], e["state_key"]) for e in knock_state}
    assert ("m.room.join_rules", "") in types and ("m.room.name", "") in types
    assert member_events(knock_state, knocker.user_id) == ["knock"]
    assert room_id not in sync["rooms"]["join"]
    assert all(set(e) <= {"type", "state_key", "sender", "content"} for e in knock_state)
    # The knocker can't read the room while knocking.
    assert knocker.get(f"/rooms/{room_id}/messages", dir="b").status_code == 403
    # Sliding sync shows the knocked room with its stripped state, as Synapse does (under invite_state).
    sliding = knocker.post(SS_PATH, {"lists": {"all": {"ranges": [[0, 10]], "timeline_limit": 5, "required_state": []}}})
    assert sliding.status_code == 200, sliding.text
    room = sliding.json()["rooms"][room_id]
    assert room["membership"] == "knock"
    assert member_events(room["invite_state"], knocker.user_id) == ["knock"]
    assert "timeline" not in room

    # Accepted: an invite, then the knocker joins.
    knocker_since = sync["next_batch"]
    assert owner.post(f"/rooms/{room_id}/invite", {"user_id": knocker.user_id}).status_code == 200
    assert room_id in knocker.sync(knocker_since)["rooms"]["invite"]
    knocker.join(room_id)
    assert knocker.get(f"/rooms/{room_id}/joined_members").status_code == 200


def test_knock_refused_by_kick_and_withdrawn_by_leave(shared_server: ServerProcess) -> None:
    owner, refused, withdrawer = (user(shared_server, n) for n in ("owner", "refused", "withdrawer"))
    room_id = knock_room(owner, "knock_restricted")
    for who in (refused, withdrawer):
        assert who.post(f"/knock/{room_id}", {}).status_code == 200
    since = refused.sync()["next_batch"]
    assert owner.post(f"/rooms/{room_id}/kick", {"user_id": refused.user_id, "reason": "no"}).status_code == 200
    gone = refused.sync(since)["rooms"]
    assert room_id not in gone["knock"]
    assert member_events(gone["leave"][room_id]["timeline"]["events"], refused.user_id) == ["leave"]
    assert withdrawer.post(f"/rooms/{room_id}/leave", {}).status_code == 200
    assert room_id not in withdrawer.sync()["rooms"]["knock"]
    members = owner.get(f"/rooms/{room_id}/members").json()["chunk"]
    assert {e["state_key"]: e["content"]["membership"] for e in members}[withdrawer.user_id] == "leave"
    # A refused knocker may knock again; a banned one may not.
    assert refused.post(f"/knock/{room_id}", {}).status_code == 200
    assert owner.post(f"/rooms/{room_id}/ban", {"user_id": refused.user_id}).status_code == 200
    banned = refused.post(f"/knock/{room_id}", {})
    assert (banned.status_code, banned.json()["errcode"]) == (403, "M_FORBIDDEN")


def test_knock_where_it_is_not_allowed(shared_server: ServerProcess) -> None:
    owner, stranger = user(shared_server, "owner"), user(shared_server, "stranger")
    public = owner.create_room(preset="public_chat")
    private = owner.create_room(preset="private_chat")
    knockable = knock_room(owner)
    missing = "!nothing:" + owner.user_id.split(":", 1)[1]

    on_public = stranger.post(f"/knock/{public}", {})
    assert (on_public.status_code, on_public.json()["errcode"]) == (403, "M_FORBIDDEN")
    # A private room the stranger can't see answers as a missing one does.
    on_private, on_missing = stranger.post(f"/knock/{private}", {}), stranger.post(f"/knock/{missing}", {})
    assert on_private.status_code == on_missing.status_code == 404
    assert on_private.json() == on_missing.json()
    # Already joined: no knock.
    joined = owner.post(f"/knock/{knockable}", {})
    assert (joined.status_code, joined.json()["errcode"]) == (403, "M_FORBIDDEN")
    for body, errcode in (({"reason": 5}, "M_BAD_JSON"), ([], "M_BAD_JSON")):
        bad = stranger.post(f"/knock/{knockable}", body)
        assert (bad.status_code, bad.json()["errcode"]) == (400, errcode)
    bad_id = stranger.post("/knock/not-a-room", {})
    assert (bad_id.status_code, bad_id.json()["errcode"]) == (400, "M_INVALID_PARAM")
    # None of it left a knock behind.
    members = owner.get(f"/rooms/{knockable}/members").json()["chunk"]
    assert stranger.user_id not in {e["state_key"] for e in members}
