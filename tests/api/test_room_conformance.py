"""Room endpoints against the spec over HTTP: former members' state, membership through the API,
validation of state and push rules, and the routes clients call for aliases."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.hardening.client import User, error, new_user
from tests.server import ServerProcess

GHOST = "$doesnotexist0000000000000000000000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("rooms") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


_count = 0


def users(server: ServerProcess, *names: str) -> list[User]:
    global _count
    _count += 1
    return [new_user(server, f"{name}{_count}") for name in names]


def shared_room(owner: User, *others: User, **body: object) -> str:
    room_id = owner.create_room(preset="public_chat", **body)
    for other in others:
        other.join(room_id)
    return room_id


# --- a former member reads the state as it was when they left (item 9) ----------------------


def test_a_former_member_reads_the_state_as_at_their_leave(server: ServerProcess) -> None:
    owner, leaver, stranger = users(server, "owner", "leaver", "stranger")
    room_id = shared_room(owner, leaver, name="Before")
    assert leaver.post(f"/rooms/{room_id}/leave").status_code == 200
    assert owner.put(f"/rooms/{room_id}/state/m.room.name", {"name": "After"}).status_code == 200
    assert owner.put(f"/rooms/{room_id}/state/m.room.topic", {"topic": "later"}).status_code == 200

    state = leaver.get(f"/rooms/{room_id}/state")
    assert state.status_code == 200, state.text
    by_key = {(e["type"], e["state_key"]): e for e in state.json()}
    assert by_key[("m.room.name", "")]["content"] == {"name": "Before"}
    assert by_key[("m.room.member", leaver.user_id)]["content"]["membership"] == "leave"
    assert ("m.room.topic", "") not in by_key
    assert all(e["room_id"] == room_id for e in state.json())

    name = leaver.get(f"/rooms/{room_id}/state/m.room.name/")
    assert name.status_code == 200 and name.json() == {"name": "Before"}
    assert error(leaver.get(f"/rooms/{room_id}/state/m.room.topic/")) == (404, "M_NOT_FOUND")
    # The members still there read the current state.
    assert owner.get(f"/rooms/{room_id}/state/m.room.name/").json() == {"name": "After"}
    # Someone never in the room reads nothing.
    assert error(stranger.get(f"/rooms/{room_id}/state")) == (403, "M_FORBIDDEN")
    assert error(stranger.get(f"/rooms/{room_id}/state/m.room.name/")) == (403, "M_FORBIDDEN")


# --- status codes and formats (item 11) ------------------------------------------------------


def test_an_event_of_a_room_never_joined_is_not_found_like_a_missing_one(server: ServerProcess) -> None:
    owner, stranger = users(server, "owner", "stranger")
    room_id = owner.create_room(preset="private_chat")
    event_id = owner.send(room_id, "t1", {"msgtype": "m.text", "body": "hello"})
    hidden = stranger.get(f"/rooms/{room_id}/event/{event_id}")
    missing = stranger.get(f"/rooms/{room_id}/event/{GHOST}")
    assert error(hidden) == error(missing) == (404, "M_NOT_FOUND")
    assert hidden.json() == missing.json()


def test_format_event_gives_the_whole_state_event(server: ServerProcess) -> None:
    owner, leaver = users(server, "owner", "leaver")
    room_id = shared_room(owner, leaver, name="Named")
    content = owner.get(f"/rooms/{room_id}/state/m.room.name/", format="content")
    assert content.json() == {"name": "Named"}
    whole = owner.get(f"/rooms/{room_id}/state/m.room.name/", format="event")
    assert whole.status_code == 200, whole.text
    event = whole.json()
    assert event["type"] == "m.room.name" and event["state_key"] == "" and event["content"] == {"name": "Named"}
    assert event["room_id"] == room_id and event["sender"] == owner.user_id and event["event_id"].startswith("$")
    assert leaver.post(f"/rooms/{room_id}/leave").status_code == 200
    member = leaver.get(f"/rooms/{room_id}/state/m.room.member/{leaver.user_id}", format="event")
    assert member.json()["content"]["membership"] == "leave"
    assert error(owner.get(f"/rooms/{room_id}/state/m.room.name/", format="xml")) == (400, "M_INVALID_PARAM")


# --- membership through the API (item 10) ----------------------------------------------------


def test_a_kick_of_a_banned_user_is_refused_and_keeps_the_ban(server: ServerProcess) -> None:
    owner, member = users(server, "owner", "member")
    room_id = shared_room(owner, member)
    assert owner.post(f"/rooms/{room_id}/ban", {"user_id": member.user_id}).status_code == 200
    kicked = owner.post(f"/rooms/{room_id}/kick", {"user_id": member.user_id, "reason": "again"})
    assert error(kicked) == (403, "M_FORBIDDEN")
    assert "banned" in kicked.json()["error"]
    state = owner.get(f"/rooms/{room_id}/state/m.room.member/{member.user_id}").json()
    assert state["membership"] == "ban"
    assert error(member.post(f"/rooms/{room_id}/join")) == (403, "M_FORBIDDEN")


def test_joining_by_putting_one_s_own_member_event(server: ServerProcess) -> None:
    owner, joiner, invitee, outsider = users(server, "owner", "joiner", "invitee", "outsider")
    public = owner.create_room(preset="public_chat")
    put = joiner.put(f"/rooms/{public}/state/m.room.member/{joiner.user_id}", {"membership": "join"})
    assert put.status_code == 200, put.text
    member = owner.get(f"/rooms/{public}/state/m.room.member/{joiner.user_id}", format="event").json()
    assert member["event_id"] == put.json()["event_id"]
    assert member["content"]["membership"] == "join"
    assert member["content"]["displayname"]  # filled from the profile, as /join does
    assert public in joiner.get("/joined_rooms").json()["joined_rooms"]

    private = owner.create_room(preset="private_chat")
    refused = outsider.put(f"/rooms/{private}/state/m.room.member/{outsider.user_id}", {"membership": "join"})
    assert error(refused) == (403, "M_FORBIDDEN")
    assert private not in outsider.get("/joined_rooms").json()["joined_rooms"]
    assert owner.post(f"/rooms/{private}/invite", {"user_id": invitee.user_id}).status_code == 200
    invited = invitee.put(f"/rooms/{private}/state/m.room.member/{invitee.user_id}",
                          {"membership": "join", "displayname": "Chosen"})
    assert invited.status_code == 200, invited.text
    assert owner.get(f"/rooms/{private}/state/m.room.member/{invitee.user_id}").json()["displayname"] == "Chosen"
    # Another user's member event is still only for the room's members to send.
    other = outsider.put(f"/rooms/{public}/state/m.room.member/{joiner.user_id}", {"membership": "leave"})
    assert error(other) == (403, "M_FORBIDDEN")


# --- validation (item 11) -----------------------------------------------------------------------


def test_a_canonical_alias_must_point_to_the_room(server: ServerProcess) -> None:
    owner, = users(server, "owner")
    room_id, other_room = owner.create_room(preset="private_chat"), owner.create_room(preset="private_chat")
    mine, theirs = f"#mine{_count}:qasid.test", f"#theirs{_count}:qasid.test"
    assert owner.put(f"/directory/room/{quote(mine)}", {"room_id": room_id}).status_code == 200
    assert owner.put(f"/directory/room/{quote(theirs)}", {"room_id": other_room}).status_code == 200
    path = f"/rooms/{room_id}/state/m.room.canonical_alias/"
    for content, errcode in (
        ({"alias": theirs}, "M_BAD_ALIAS"),
        ({"alias": f"#nowhere{_count}:qasid.test"}, "M_BAD_ALIAS"),
        ({"alias": mine, "alt_aliases": [theirs]}, "M_BAD_ALIAS"),
        ({"alias": "#elsewhere:remote.example"}, "M_BAD_ALIAS"),
        ({"alias": "not an alias"}, "M_INVALID_PARAM"),
        ({"alias": mine, "alt_aliases": [5]}, "M_INVALID_PARAM"),
        ({"alias": mine, "alt_aliases": mine}, "M_BAD_JSON"),
    ):
        assert error(owner.put(path, content)) == (400, errcode), content
    assert owner.get(path).status_code == 404  # none of them was stored
    assert owner.put(path, {"alias": mine, "alt_aliases": [mine]}).status_code == 200
    assert owner.put(path, {}).status_code == 200  # removing the aliases is always allowed


def test_a_push_rule_with_an_unknown_action_is_refused(server: ServerProcess) -> None:
    owner, = users(server, "owner")
    path = "/pushrules/global/override/probe"
    conditions = [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}]
    refused = owner.put(path, {"conditions": conditions, "actions": ["notify", "explode"]})
    assert error(refused) == (400, "M_INVALID_PARAM")
    assert error(owner.get(path)) == (404, "M_NOT_FOUND")
    assert error(owner.put("/pushrules/global/override/.m.rule.master/actions", {"actions": ["explode"]})) == \
        (400, "M_INVALID_PARAM")
    assert owner.put(path, {"conditions": conditions, "actions": ["notify", "dont_notify"]}).status_code == 200


# --- routes clients call (item 15) --------------------------------------------------------------


def test_local_aliases_of_a_room(server: ServerProcess) -> None:
    owner, member, stranger = users(server, "owner", "member", "stranger")
    room_id = shared_room(owner, member)
    aliases = [f"#b{_count}:qasid.test", f"#a{_count}:qasid.test"]
    for alias in aliases:
        assert owner.put(f"/directory/room/{quote(alias)}", {"room_id": room_id}).status_code == 200
    listed = member.get(f"/rooms/{room_id}/aliases")
    assert listed.status_code == 200 and listed.json() == {"aliases": sorted(aliases)}
    assert error(stranger.get(f"/rooms/{room_id}/aliases")) == (403, "M_FORBIDDEN")
    assert error(stranger.get("/rooms/!unknown:qasid.test/aliases")) == (403, "M_FORBIDDEN")
    assert owner.get(f"/rooms/{owner.create_room()}/aliases").json() == {"aliases": []}
    readable = owner.create_room(preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "world_readable"}}])
    assert stranger.get(f"/rooms/{readable}/aliases").json() == {"aliases": []}
