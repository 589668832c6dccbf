"""Who may preview a room, who may vouch for a restricted join, and a space's children in order: tables."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.errors import MatrixError
from qasid.core.room_preview import (
    ALLOWED,
    MEMBER,
    OPEN,
    allowed_room_ids,
    full_summary,
    join_authorisers,
    preview_access,
)
from qasid.core.spaces import HierarchyToken, space_children

ME = "@me:hs"
OWNER = "@owner:hs"
SPACE = "!space:hs"
State = dict[tuple[str, str], dict[str, Any]]


def state(join_rule: str | None = "invite", me: str | None = None, visibility: str | None = None,
          allow: list[Any] | None = None, **extra: dict[str, Any]) -> State:
    s: State = {("m.room.create", ""): {"sender": OWNER, "content": {"room_version": "11"}}}
    if join_rule is not None:
        content: dict[str, Any] = {"join_rule": join_rule}
        if allow is not None:
            content["allow"] = allow
        s[("m.room.join_rules", "")] = {"content": content}
    if me is not None:
        s[("m.room.member", ME)] = {"content": {"membership": me}}
    if visibility is not None:
        s[("m.room.history_visibility", "")] = {"content": {"history_visibility": visibility}}
    for key, event in extra.items():
        s[(key.replace("_", "."), "")] = event
    return s


IN_SPACE = [{"type": "m.room_membership", "room_id": SPACE}]


@pytest.mark.parametrize(("room", "joined", "access"), [
    pytest.param(state(me="join"), set(), MEMBER, id="joined"),
    pytest.param(state(me="invite"), set(), MEMBER, id="invited"),
    pytest.param(state("knock", me="knock"), set(), MEMBER, id="knocking"),
    pytest.param(state(), set(), None, id="private-never-in"),
    pytest.param(state(me="leave"), set(), None, id="private-left"),
    pytest.param(state(me="ban"), set(), None, id="private-banned"),
    pytest.param(state("public", me="ban"), set(), None, id="public-but-banned"),
    pytest.param(state("public", me="ban", visibility="world_readable"), set(), None, id="world-readable-but-banned"),
    pytest.param(state("public"), set(), OPEN, id="public"),
    pytest.param(state("knock"), set(), OPEN, id="knockable"),
    pytest.param(state("knock_restricted", allow=IN_SPACE), set(), OPEN, id="knock-restricted-not-in-space"),
    pytest.param(state(visibility="world_readable"), set(), OPEN, id="world-readable"),
    pytest.param(state(visibility="shared"), set(), None, id="shared-is-not-readable"),
    pytest.param(state("restricted", allow=IN_SPACE), {SPACE}, ALLOWED, id="restricted-in-space"),
    pytest.param(state("restricted", allow=IN_SPACE), {"!other:hs"}, None, id="restricted-not-in-space"),
    pytest.param(state("restricted", allow=[{"type": "m.other", "room_id": SPACE}]), {SPACE}, None,
                 id="restricted-unknown-allow-type"),
    pytest.param(state("invite", allow=IN_SPACE), {SPACE}, None, id="allow-ignored-without-restricted-rule"),
    pytest.param(state(None), set(), None, id="no-join-rules-is-invite"),
])
def test_preview_access(room: State, joined: set[str], access: str | None) -> None:
    assert preview_access(room, ME, joined) == access


@pytest.mark.parametrize(("allow", "expected"), [
    (IN_SPACE, [SPACE]),
    ([*IN_SPACE, *IN_SPACE, {"type": "m.room_membership", "room_id": "!b:hs"}], [SPACE, "!b:hs"]),
    ([{"type": "m.room_membership"}, {"type": "m.room_membership", "room_id": 5}, "x"], []),
    ("not a list", []),
])
def test_allowed_room_ids(allow: Any, expected: list[str]) -> None:
    assert allowed_room_ids(state("restricted", allow=allow)) == expected


def test_join_authorisers_are_joined_members_who_may_invite_most_powerful_first() -> None:
    room = state("restricted", allow=IN_SPACE)
    room[("m.room.power_levels", "")] = {"content": {"invite": 50, "users": {OWNER: 100, "@mod:hs": 50,
                                                                             "@gone:hs": 100, "@low:hs": 10}}}
    for user, membership in ((OWNER, "join"), ("@mod:hs", "join"), ("@gone:hs", "leave"), ("@low:hs", "join"),
                             ("@amod:hs", "join")):
        room[("m.room.member", user)] = {"content": {"membership": membership}}
    room[("m.room.power_levels", "")]["content"]["users"]["@amod:hs"] = 50
    members = {OWNER, "@mod:hs", "@gone:hs", "@low:hs", "@amod:hs"}
    assert join_authorisers(room, members) == [OWNER, "@amod:hs", "@mod:hs"]
    # Without a power levels event the invite level is 0: any joined member may vouch.
    bare = state("restricted")
    bare[("m.room.member", OWNER)] = {"content": {"membership": "join"}}
    assert join_authorisers(bare, {OWNER}) == [OWNER]


def test_full_summary_names_only_what_the_spec_allows() -> None:
    room = state("restricted", allow=IN_SPACE)
    room[("m.room.encryption", "")] = {"content": {"algorithm": "m.megolm.v1.aes-sha2"}}
    room[("m.room.name", "")] = {"content": {"name": ""}}
    summary = full_summary("!r:hs", room, 3)
    assert summary == {"room_id": "!r:hs", "num_joined_members": 3, "world_readable": False,
                       "guest_can_join": False, "join_rule": "restricted", "room_version": "11",
                       "encryption": "m.megolm.v1.aes-sha2", "allowed_room_ids": [SPACE]}
    room[("m.room.encryption", "")] = {"content": {"algorithm": "rot13"}}
    assert "encryption" not in full_summary("!r:hs", room, 3)


def child(room_id: str, ts: int, **content: Any) -> tuple[tuple[str, str], dict[str, Any]]:
    return ("m.space.child", room_id), {"type": "m.space.child", "state_key": room_id, "sender": OWNER,
                                        "origin_server_ts": ts, "content": {"via": ["hs"], **content}}


def test_space_children_in_the_spec_s_order() -> None:
    room = dict([
        child("!late:hs", 30),
        child("!early:hs", 10),
        child("!same-b:hs", 20),
        child("!same-a:hs", 20),
        child("!ordered-z:hs", 99, order="z"),
        child("!ordered-a:hs", 99, order="a"),
        child("!bad-order:hs", 5, order="\x07bell"),
        child("!long-order:hs", 6, order="x" * 51),
        child("!suggested:hs", 40, suggested=True),
        child("!removed:hs", 1, via=[]),
        child("!no-via:hs", 1, via="hs"),
        child("not-a-room", 1),
    ])
    order = [e["state_key"] for e in space_children(room, suggested_only=False)]
    assert order == ["!ordered-a:hs", "!ordered-z:hs", "!bad-order:hs", "!long-order:hs", "!early:hs",
                     "!same-a:hs", "!same-b:hs", "!late:hs", "!suggested:hs"]
    assert [e["state_key"] for e in space_children(room, suggested_only=True)] == ["!suggested:hs"]


@pytest.mark.parametrize("token", ["", "1", "1_2", "a_1_0", "1_1_2", "-1_1_0", "1_1_0_0", "9999999999_1_0", "１_1_0"])
def test_hierarchy_tokens_that_are_not_ours_are_invalid(token: str) -> None:
    with pytest.raises(MatrixError) as refused:
        HierarchyToken.decode(token)
    assert (refused.value.status, refused.value.errcode) == (400, "M_INVALID_PARAM")


def test_hierarchy_token_round_trip() -> None:
    token = HierarchyToken(40, 3, True)
    assert HierarchyToken.decode(token.encode()) == token
