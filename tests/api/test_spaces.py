"""Spaces over HTTP: /hierarchy, restricted joins through a space, and the room summary (MSC3266).

One server for the module: each test makes its own users and rooms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

V1 = "/_matrix/client/v1"
UNSTABLE_SUMMARY = "/_matrix/client/unstable/im.nheko.summary/summary"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(Path(tmp_path_factory.mktemp("spaces")) / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


_count = iter(range(1000))


def user(server: ServerProcess, name: str) -> User:
    return new_user(server, f"{name}{next(_count)}")


def add_child(owner: User, space: str, child: str, **content: Any) -> None:
    body = {"via": [owner.user_id.split(":", 1)[1]], **content}
    response = owner.put(f"/rooms/{space}/state/m.space.child/{child}", body)
    assert response.status_code == 200, response.text


def make_space(owner: User, join_rule: str = "invite") -> tuple[str, dict[str, str]]:
    """A space with a public room, a room restricted to the space, a private room and a sub-space
    holding one public room; returns (space, {name: room_id})."""
    preset = "public_chat" if join_rule == "public" else "private_chat"
    space = owner.create_room(preset=preset, name="Ministry", creation_content={"type": "m.space"})
    restricted_rule = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}
    rooms = {
        "public": owner.create_room(preset="public_chat", name="Lobby", topic="Say hello"),
        "restricted": owner.create_room(preset="private_chat", name="Staff", initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": restricted_rule}]),
        "private": owner.create_room(preset="private_chat", name="Cabinet"),
        "sub": owner.create_room(preset="public_chat", name="Sub", creation_content={"type": "m.space"}),
    }
    rooms["deep"] = owner.create_room(preset="public_chat", name="Deep")
    add_child(owner, space, rooms["public"], order="a")
    add_child(owner, space, rooms["restricted"], order="b", suggested=True)
    add_child(owner, space, rooms["private"], order="c")
    add_child(owner, space, rooms["sub"], order="d")
    add_child(owner, rooms["sub"], rooms["deep"])
    return space, rooms


def hierarchy(who: User, space: str, **params: Any) -> Any:
    return who.get(f"{V1}/rooms/{space}/hierarchy", **params)


def listed(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [room["room_id"] for room in response.json()["rooms"]]


def test_hierarchy_lists_what_the_user_may_see_depth_first(shared_server: ServerProcess) -> None:
    owner, member = user(shared_server, "owner"), user(shared_server, "member")
    space, rooms = make_space(owner)
    assert owner.post(f"/rooms/{space}/invite", {"user_id": member.user_id}).status_code == 200
    member.join(space)

    # The owner sees every room, depth first, children in their `order`.
    assert listed(hierarchy(owner, space)) == [space, rooms["public"], rooms["restricted"], rooms["private"],
                                               rooms["sub"], rooms["deep"]]
    # A member of the space: not the private room, which they may neither see nor join.
    seen = hierarchy(member, space).json()["rooms"]
    assert [r["room_id"] for r in seen] == [space, rooms["public"], rooms["restricted"], rooms["sub"], rooms["deep"]]
    top = seen[0]
    assert top["room_type"] == "m.space" and top["name"] == "Ministry" and top["num_joined_members"] == 2
    assert top["join_rule"] == "invite" and top["world_readable"] is False and top["guest_can_join"] is True
    # The space's own state lists all its children, as m.space.child stripped state with a timestamp.
    children = {c["state_key"]: c for c in top["children_state"]}
    assert set(children) == {rooms["public"], rooms["restricted"], rooms["private"], rooms["sub"]}
    child = children[rooms["public"]]
    assert child["type"] == "m.space.child" and child["sender"] == owner.user_id
    assert child["content"]["order"] == "a" and isinstance(child["origin_server_ts"], int)
    restricted = next(r for r in seen if r["room_id"] == rooms["restricted"])
    assert restricted["join_rule"] == "restricted" and restricted["allowed_room_ids"] == [space]
    assert restricted["children_state"] == [] and restricted["room_version"] == "11"
    lobby = next(r for r in seen if r["room_id"] == rooms["public"])
    assert lobby["topic"] == "Say hello" and lobby["join_rule"] == "public"

    # max_depth and suggested_only.
    assert listed(hierarchy(member, space, max_depth=0)) == [space]
    assert listed(hierarchy(member, space, max_depth=1)) == [space, rooms["public"], rooms["restricted"],
                                                             rooms["sub"]]
    assert listed(hierarchy(member, space, suggested_only="true")) == [space, rooms["restricted"]]
    # Paging one room at a time gives the same list, and the parameters may not change midway.
    pages: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if token:
            params["from"] = token
        page = hierarchy(member, space, **params)
        pages += listed(page)
        token = page.json().get("next_batch")
        if token is None:
            break
        changed = hierarchy(member, space, limit=1, max_depth=1, **{"from": token})
        assert changed.status_code == 400 and changed.json()["errcode"] == "M_INVALID_PARAM"
    assert pages == [space, rooms["public"], rooms["restricted"], rooms["sub"], rooms["deep"]]


@pytest.mark.parametrize(("params", "errcode"), [
    ({"limit": "0"}, "M_INVALID_PARAM"),
    ({"limit": "-3"}, "M_INVALID_PARAM"),
    ({"limit": "many"}, "M_INVALID_PARAM"),
    ({"max_depth": "-1"}, "M_INVALID_PARAM"),
    ({"max_depth": "1.5"}, "M_INVALID_PARAM"),
    ({"suggested_only": "yes"}, "M_INVALID_PARAM"),
    ({"from": "garbage"}, "M_INVALID_PARAM"),
    ({"from": "1_2"}, "M_INVALID_PARAM"),
])
def test_hierarchy_refuses_bad_parameters(shared_server: ServerProcess, params: dict[str, str],
                                          errcode: str) -> None:
    owner = user(shared_server, "owner")
    space = owner.create_room(creation_content={"type": "m.space"})
    response = hierarchy(owner, space, **params)
    assert (response.status_code, response.json()["errcode"]) == (400, errcode), response.text


def test_restricted_room_is_joined_through_the_space(shared_server: ServerProcess) -> None:
    owner, member, outsider = user(shared_server, "owner"), user(shared_server, "member"), user(shared_server, "out")
    space, rooms = make_space(owner, join_rule="public")
    outsider_try = outsider.post(f"/join/{rooms['restricted']}")
    assert outsider_try.status_code == 403 and outsider_try.json()["errcode"] == "M_FORBIDDEN"
    assert "not a member of any room" in outsider_try.json()["error"]
    member.join(space)
    joined = member.post(f"/join/{rooms['restricted']}")
    assert joined.status_code == 200, joined.text
    state = member.get(f"/rooms/{rooms['restricted']}/state/m.room.member/{member.user_id}").json()
    assert state["membership"] == "join"
    assert state["join_authorised_via_users_server"] == owner.user_id
    # Having left the space, the member can't join the restricted room anew.
    assert member.post(f"/rooms/{rooms['restricted']}/leave", {}).status_code == 200
    assert member.post(f"/rooms/{space}/leave", {}).status_code == 200
    again = member.post(f"/join/{rooms['restricted']}")
    assert again.status_code == 403, again.text


def test_room_summary_fields_and_paths(shared_server: ServerProcess) -> None:
    owner, visitor = user(shared_server, "owner"), user(shared_server, "visitor")
    alias_name = f"lobby{next(_count)}"
    room_id = owner.create_room(preset="public_chat", name="Lobby", topic="Say hello", room_alias_name=alias_name)
    server_name = owner.user_id.split(":", 1)[1]
    alias = f"#{alias_name}:{server_name}"
    for path in (f"{V1}/room_summary/{room_id}", f"{V1}/room_summary/{quote(alias)}", f"{UNSTABLE_SUMMARY}/{room_id}"):
        response = visitor.get(path, via=server_name)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert body["room_id"] == room_id and body["name"] == "Lobby" and body["topic"] == "Say hello"
        assert body["canonical_alias"] == alias and body["num_joined_members"] == 1
        assert body["join_rule"] == "public" and body["room_version"] == "11"
        assert body["membership"] == "leave" and body["world_readable"] is False
    legacy = visitor.get(f"/_matrix/client/unstable/im.nheko.summary/rooms/{quote(alias)}/summary").json()
    assert legacy["room_id"] == room_id and legacy["im.nheko.summary.room_version"] == "11"
    assert visitor.get(f"{V1}/room_summary/{room_id}").json().keys() <= body.keys()
    visitor.join(room_id)
    assert visitor.get(f"{V1}/room_summary/{room_id}").json()["membership"] == "join"
    versions = visitor.get("/_matrix/client/versions").json()
    assert versions["unstable_features"]["im.nheko.summary"] is True


def _errors(who: User, paths: list[str]) -> list[tuple[int, Any]]:
    return [(r.status_code, r.json()) for r in (who.get(p) for p in paths)]


def test_nothing_leaks_to_those_not_in_a_private_space(shared_server: ServerProcess) -> None:
    """Someone who left, someone banned and someone never in the room get exactly the answer a room
    that doesn't exist gets, from /hierarchy and from /room_summary."""
    owner = user(shared_server, "owner")
    left, banned, stranger = user(shared_server, "left"), user(shared_server, "banned"), user(shared_server, "never")
    space, rooms = make_space(owner)
    for who in (left, banned):
        assert owner.post(f"/rooms/{space}/invite", {"user_id": who.user_id}).status_code == 200
        who.join(space)
        who.join(rooms["restricted"])
    assert left.post(f"/rooms/{space}/leave", {}).status_code == 200
    assert owner.post(f"/rooms/{space}/ban", {"user_id": banned.user_id}).status_code == 200
    assert owner.post(f"/rooms/{rooms['restricted']}/ban", {"user_id": banned.user_id}).status_code == 200
    missing = "!doesnotexist:" + owner.user_id.split(":", 1)[1]

    def probes(room_id: str) -> list[str]:
        return [f"{V1}/rooms/{room_id}/hierarchy", f"{V1}/room_summary/{room_id}", f"{UNSTABLE_SUMMARY}/{room_id}",
                f"/_matrix/client/unstable/im.nheko.summary/rooms/{room_id}/summary"]

    expected = _errors(stranger, probes(missing))
    assert [status for status, _ in expected] == [403, 404, 404, 404]
    for who in (left, banned, stranger):
        for room_id in (space, rooms["private"]):
            assert _errors(who, probes(room_id)) == expected, (who.user_id, room_id)
    # Nor may the banned user preview the restricted room they were banned from.
    assert _errors(banned, probes(rooms["restricted"])) == expected
    # The one who left is still in the restricted room: that one room they see, with no way up to the space.
    assert listed(hierarchy(left, rooms["restricted"])) == [rooms["restricted"]]
