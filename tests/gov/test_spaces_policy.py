"""The organisation's policy in spaces: a restricted join and an invite after a knock follow the invite
scope; the hierarchy and room summary follow the directory scope for rooms open to anyone."""

from __future__ import annotations

from typing import Any

from tests.gov.helpers import Gov, Session

V1 = "/_matrix/client/v1"


def _v1(gov: Gov, path: str, session: Session) -> Any:
    return gov.http.get(V1 + path, headers=session.auth)


def _room(gov: Gov, owner: Session, **body: Any) -> str:
    response = gov.client("POST", "/createRoom", owner, body)
    assert response.status_code == 200, response.text
    return str(response.json()["room_id"])


def test_restricted_joins_and_knocks_follow_the_invite_scope(gov: Gov) -> None:
    mof = gov.unit("MOF", invite_scope="ministry")
    bud = gov.unit("MOF-BUD", parent=mof)
    moj = gov.unit("MOJ")
    alice, colleague, carol = gov.official("alice", mof), gov.official("colleague", bud), gov.official("carol", moj)
    space = _room(gov, alice, preset="public_chat", creation_content={"type": "m.space"})
    rule = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}
    staff = _room(gov, alice, initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": rule}])
    for who in (colleague, carol):
        assert gov.client("POST", f"/join/{space}", who).status_code == 200

    # Only alice can vouch for a join, and her policy lets her invite within her ministry only.
    refused = gov.client("POST", f"/join/{staff}", carol)
    assert refused.status_code == 403 and "invitation policy" in refused.json()["error"], refused.text
    joined = gov.client("POST", f"/join/{staff}", colleague)
    assert joined.status_code == 200, joined.text
    member = gov.client("GET", f"/rooms/{staff}/state/m.room.member/{colleague.user_id}", colleague).json()
    assert member["join_authorised_via_users_server"] == alice.user_id
    # A client naming the authoriser itself is held to the same policy.
    raw = gov.client("PUT", f"/rooms/{staff}/state/m.room.member/{carol.user_id}", carol,
                     {"membership": "join", "join_authorised_via_users_server": alice.user_id})
    assert raw.status_code == 403, raw.text

    desk = _room(gov, alice, initial_state=[
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}])
    for who in (colleague, carol):
        assert gov.client("POST", f"/knock/{desk}", who, {"reason": "please"}).status_code == 200
    let_in = gov.client("POST", f"/rooms/{desk}/invite", alice, {"user_id": carol.user_id})
    assert let_in.status_code == 403 and "ministry" in let_in.json()["error"]
    assert gov.client("POST", f"/rooms/{desk}/invite", alice, {"user_id": colleague.user_id}).status_code == 200
    assert gov.client("POST", f"/join/{desk}", colleague).status_code == 200


def test_rooms_open_to_anyone_follow_the_directory_scope(gov: Gov) -> None:
    mof = gov.unit("MOF")
    moj = gov.unit("MOJ", directory_scope="unit")
    alice, carol = gov.official("alice", mof), gov.official("carol", moj)
    space = _room(gov, alice, preset="public_chat", creation_content={"type": "m.space"})
    lobby = _room(gov, alice, preset="public_chat", name="Lobby")
    child = gov.client("PUT", f"/rooms/{space}/state/m.space.child/{lobby}", alice, {"via": ["qasid.test"]})
    assert child.status_code == 200, child.text

    # Carol may not look into the Ministry of Finance: its open rooms are as good as missing to her.
    hidden = _v1(gov, f"/rooms/{space}/hierarchy", carol)
    missing = _v1(gov, "/rooms/!missing:qasid.test/hierarchy", carol)
    assert hidden.status_code == missing.status_code == 403
    assert hidden.json() == missing.json()
    summary = _v1(gov, f"/room_summary/{lobby}", carol)
    assert summary.status_code == 404 and summary.json()["errcode"] == "M_NOT_FOUND"
    # Once she has joined the space (by its ID), she sees the space, but not the lobby: that is still
    # an open room of a unit outside her scope.
    assert gov.client("POST", f"/join/{space}", carol).status_code == 200
    rooms = _v1(gov, f"/rooms/{space}/hierarchy", carol).json()["rooms"]
    assert [r["room_id"] for r in rooms] == [space]
    # Alice, in scope of everyone, sees both.
    mine = _v1(gov, f"/rooms/{space}/hierarchy", alice).json()["rooms"]
    assert [r["room_id"] for r in mine] == [space, lobby]
