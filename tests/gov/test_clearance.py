"""Classification and clearance on a real server: every way into a room is refused below the room's
level (403 with the reason), a lower clearance or a higher level removes members (audited), a level
never goes down, and the marking stays in the room's name."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.gov.helpers import Gov, Session

LEVEL = "io.qasid.classification"


def classified(level: str) -> dict[str, Any]:
    return {"type": LEVEL, "state_key": "", "content": {"level": level}}


def clear(gov: Gov, who: Session, level: str) -> dict[str, Any]:
    result: dict[str, Any] = gov.ok("PUT", f"/officials/{who.user_id}/clearance", {"level": level})
    return result


def create(gov: Gov, who: Session, level: str, **extra: Any) -> str:
    body = {"initial_state": [classified(level)], **extra}
    response = gov.client("POST", "/createRoom", who, body)
    assert response.status_code == 200, response.text
    return str(response.json()["room_id"])


def membership(gov: Gov, reader: Session, room: str, user: Session) -> dict[str, Any]:
    response = gov.client("GET", f"/rooms/{room}/state/m.room.member/{user.user_id}", reader)
    return response.json() if response.status_code == 200 else {"membership": "leave"}


def name_of(gov: Gov, reader: Session, room: str) -> str:
    return str(gov.client("GET", f"/rooms/{room}/state/m.room.name/", reader).json().get("name"))


def audit(gov: Gov, action: str) -> list[dict[str, Any]]:
    return [e for e in gov.ok("GET", "/audit?limit=500")["entries"] if e["action"] == action]


def refused(response: Any, *words: str) -> None:
    assert response.status_code == 403 and response.json()["errcode"] == "M_FORBIDDEN", response.text
    for word in words:
        assert word in response.json()["error"], response.text


def test_an_invitation_below_the_room_level_is_refused_on_every_path(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice, bob = gov.official("alice", unit), gov.official("bob", unit)
    assert clear(gov, alice, "Secret")["clearance"] == "Secret"
    room = create(gov, alice, "Secret", name="Budget")
    assert name_of(gov, alice, room) == "[SECRET] Budget"
    # /invite, a raw PUT of the member state, and createRoom's invite list alike.
    refused(gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id}),
            bob.user_id, "classified Secret")
    refused(gov.client("PUT", f"/rooms/{room}/state/m.room.member/{bob.user_id}", alice, {"membership": "invite"}),
            "classified Secret")
    refused(gov.client("POST", "/createRoom", alice, {"initial_state": [classified("Secret")],
                                                      "invite": [bob.user_id]}), "classified Secret")
    clear(gov, bob, "Confidential")
    refused(gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id}), "classified Secret")
    assert membership(gov, alice, room, bob)["membership"] == "leave"
    clear(gov, bob, "Secret")
    assert gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/join", bob, {}).status_code == 200
    made = gov.client("POST", "/createRoom", alice, {"initial_state": [classified("Secret")], "invite": [bob.user_id]})
    assert made.status_code == 200, made.text
    # Each clearance change is in the audit log, by the admin who made it.
    changes = [e for e in audit(gov, "official.clearance") if e["target"] == bob.user_id]
    assert [(e["details"]["from"], e["details"]["to"]) for e in changes] == [
        ("Unrestricted", "Confidential"), ("Confidential", "Secret")]
    assert {e["actor"] for e in changes} == {gov.root.user_id}


def test_a_join_or_a_knock_below_the_room_level_is_refused_and_tells_outsiders_nothing(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice, bob = gov.official("alice", unit), gov.official("bob", unit)
    clear(gov, alice, "Secret")
    public = create(gov, alice, "Restricted", preset="public_chat", name="Notices")
    refused(gov.client("POST", f"/rooms/{public}/join", bob, {}),
            "Your clearance (Unrestricted) is below this room's classification (Restricted)")
    refused(gov.client("POST", f"/join/{public}", bob, {}), "Restricted")
    refused(gov.client("PUT", f"/rooms/{public}/state/m.room.member/{bob.user_id}", bob, {"membership": "join"}),
            "Restricted")
    knockable = create(gov, alice, "Secret")
    assert gov.client("PUT", f"/rooms/{knockable}/state/m.room.join_rules/", alice,
                      {"join_rule": "knock"}).status_code == 200
    refused(gov.client("PUT", f"/rooms/{knockable}/state/m.room.member/{bob.user_id}", bob, {"membership": "knock"}),
            "classification (Secret)")
    # A private room refuses an outsider by its own rules: the answer does not reveal its level.
    private = create(gov, alice, "Secret")
    outsider = gov.client("POST", f"/rooms/{private}/join", bob, {})
    assert outsider.status_code == 403 and "Secret" not in outsider.text and "clearance" not in outsider.text
    clear(gov, bob, "Restricted")
    assert gov.client("POST", f"/rooms/{public}/join", bob, {}).status_code == 200
    assert membership(gov, alice, public, bob)["membership"] == "join"


def test_a_lower_clearance_removes_the_official_from_rooms_above_it(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice, carol = gov.official("alice", unit), gov.official("carol", unit)
    clear(gov, alice, "Secret")
    clear(gov, carol, "Secret")
    secret = create(gov, alice, "Secret", invite=[carol.user_id])
    confidential = create(gov, alice, "Confidential", invite=[carol.user_id])
    open_room = gov.client("POST", "/createRoom", alice, {"invite": [carol.user_id]}).json()["room_id"]
    for room in (secret, confidential, open_room):
        assert gov.client("POST", f"/rooms/{room}/join", carol, {}).status_code == 200
    result = clear(gov, carol, "Confidential")
    assert result["rooms_left"] == 1 and result["rooms_pending"] is False
    left = membership(gov, alice, secret, carol)
    assert left["membership"] == "leave" and "classification (Secret)" in left["reason"]
    assert membership(gov, alice, confidential, carol)["membership"] == "join"
    assert membership(gov, alice, open_room, carol)["membership"] == "join"
    removed = audit(gov, "classification.remove")
    assert [(e["target"], e["details"]["room_id"], e["details"]["level"], e["details"]["clearance"], e["actor"])
            for e in removed] == [(carol.user_id, secret, "Secret", "Confidential", gov.root.user_id)]
    # From the command line (no running server in reach): queued, done by the server's maintenance loop.
    out = gov.server.cli("official", "clearance", carol.user_id, "Restricted")
    assert '"rooms_pending": true' in out, out
    deadline = time.time() + 30
    while membership(gov, alice, confidential, carol)["membership"] != "leave" and time.time() < deadline:
        time.sleep(0.3)
    assert membership(gov, alice, confidential, carol)["membership"] == "leave"
    assert membership(gov, alice, open_room, carol)["membership"] == "join"
    cli_change = audit(gov, "official.clearance")[-1]
    assert cli_change["target"] == carol.user_id and cli_change["details"] == {"from": "Confidential", "to": "Restricted"}
    assert len(audit(gov, "classification.remove")) == 2


def test_a_room_level_never_goes_down_and_a_raise_removes_those_below_it(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice, bob, dina = gov.official("alice", unit), gov.official("bob", unit), gov.official("dina", unit)
    clear(gov, alice, "Confidential")
    clear(gov, bob, "Restricted")
    clear(gov, dina, "Confidential")
    room = create(gov, alice, "Restricted", name="Plans", invite=[bob.user_id, dina.user_id])
    assert name_of(gov, alice, room) == "[RESTRICTED] Plans"
    assert gov.client("POST", f"/rooms/{room}/join", bob, {}).status_code == 200
    put = gov.client("PUT", f"/rooms/{room}/state/{LEVEL}/", alice, {"level": "Confidential"})
    assert put.status_code == 200, put.text
    # The marking follows the level; bob (joined) and nobody else is removed, dina (invited, cleared) stays.
    assert name_of(gov, alice, room) == "[CONFIDENTIAL] Plans"
    assert membership(gov, alice, room, bob)["membership"] == "leave"
    assert membership(gov, alice, room, dina)["membership"] == "invite"
    assert [(e["target"], e["details"]["room_id"], e["actor"]) for e in audit(gov, "classification.remove")] == [
        (bob.user_id, room, alice.user_id)]
    assert [(e["target"], e["details"]["level"], e["actor"]) for e in audit(gov, "room.classify")] == [
        (room, "Restricted", alice.user_id), (room, "Confidential", alice.user_id)]
    refused(gov.client("PUT", f"/rooms/{room}/state/{LEVEL}/", alice, {"level": "Restricted"}), "can't be lowered")
    refused(gov.client("PUT", f"/rooms/{room}/state/{LEVEL}/", alice, {"level": "Secret"}),
            "your clearance is Confidential")
    for malformed in ({}, {"level": "Cosmic"}):
        r = gov.client("PUT", f"/rooms/{room}/state/{LEVEL}/", alice, malformed)
        assert r.status_code == 400 and r.json()["errcode"] == "M_INVALID_PARAM", r.text
    # The marking can't be taken out of the name, nor the level or the name redacted.
    refused(gov.client("PUT", f"/rooms/{room}/state/m.room.name/", alice, {"name": "Plans"}), "[CONFIDENTIAL]")
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.name/", alice,
                      {"name": "[CONFIDENTIAL] Plans 2"}).status_code == 200
    state = {(e["type"], e["state_key"]): e for e in gov.client("GET", f"/rooms/{room}/state", alice).json()}
    for key in ((LEVEL, ""), ("m.room.name", "")):
        refused(gov.client("PUT", f"/rooms/{room}/redact/{state[key]['event_id']}/r{key[0]}", alice, {}),
                "can't be redacted")
    assert state[(LEVEL, "")]["content"] == {"level": "Confidential"}


def test_a_unit_may_require_a_minimum_classification_for_new_rooms(gov: Gov) -> None:
    unit = gov.unit("MOD", min_room_classification="Confidential")
    erin, fred = gov.official("erin", unit), gov.official("fred", unit)
    clear(gov, erin, "Secret")
    room = gov.client("POST", "/createRoom", erin, {"name": "Ops"}).json()["room_id"]
    assert gov.client("GET", f"/rooms/{room}/state/{LEVEL}/", erin).json() == {"level": "Confidential"}
    assert name_of(gov, erin, room) == "[CONFIDENTIAL] Ops"
    assert create(gov, erin, "Secret")
    refused(gov.client("POST", "/createRoom", erin, {"initial_state": [classified("Restricted")]}),
            "at least Confidential")
    # fred, not cleared, can create no room at all under this policy.
    refused(gov.client("POST", "/createRoom", fred, {}), "your clearance is Unrestricted")
    # The key only tightens down the tree.
    below = gov.unit("MOD-DIV", parent=unit)
    r = gov.call("PUT", f"/units/{below}/policy", {"min_room_classification": "Restricted"})
    assert r.status_code == 403 and "looser" in r.json()["error"], r.text


def test_accounts_outside_the_tree_hold_no_clearance_and_admins_grant_at_most_their_own(gov: Gov) -> None:
    ministry = gov.unit("MOD")
    division = gov.unit("MOD-DIV", parent=ministry)
    alice = gov.official("alice", ministry)
    head, staff = gov.official("head", ministry), gov.official("staff", division)
    gov.ok("PUT", f"/units/{ministry}/admins/{head.user_id}", {"admin": True})
    clear(gov, alice, "Secret")
    clear(gov, head, "Confidential")
    # The operator's own account (outside the tree) is cleared by nobody.
    room = create(gov, alice, "Restricted", preset="public_chat")
    refused(gov.client("POST", f"/rooms/{room}/join", gov.root, {}), "Your clearance (Unrestricted)")
    operator = gov.server.create_user("ops", "Correct-horse-9")
    r = gov.call("PUT", f"/officials/{operator}/clearance", {"level": "Secret"})
    assert r.status_code == 400 and "only officials hold a clearance" in r.json()["error"], r.text
    head_session = gov.login("head")
    r = gov.call("PUT", f"/officials/{staff.user_id}/clearance", {"level": "Secret"}, as_=head_session)
    refused(r, "above your own (Confidential)")
    assert gov.ok("PUT", f"/officials/{staff.user_id}/clearance", {"level": "Confidential"},
                  as_=head_session)["clearance"] == "Confidential"
    assert gov.ok("GET", f"/officials/{staff.user_id}")["clearance"] == "Confidential"


def test_a_matrix_nio_client_sees_the_marking_and_the_level(gov: Gov) -> None:
    """What a real client shows: the room name from /sync (nio's display name), the level in the state."""
    from nio import AsyncClient, RoomNameEvent, SyncResponse, UnknownEvent

    unit = gov.unit("MOD")
    alice, bob = gov.official("alice", unit), gov.official("bob", unit)
    clear(gov, alice, "Secret")
    clear(gov, bob, "Secret")
    room = create(gov, alice, "Confidential", name="Budget", invite=[bob.user_id])
    assert gov.client("POST", f"/rooms/{room}/join", bob, {}).status_code == 200

    async def run() -> None:
        client = AsyncClient(gov.server.base_url, bob.user_id)
        client.restore_login(bob.user_id, bob.device_id, bob.token)
        try:
            first = await client.sync(timeout=0, full_state=True)
            assert isinstance(first, SyncResponse), first
            assert client.rooms[room].display_name == "[CONFIDENTIAL] Budget"
            joined = first.rooms.join[room]
            # A new room's state arrives in its timeline (it is all among the last events).
            levels = [e for e in joined.state + joined.timeline.events if isinstance(e, UnknownEvent) and e.type == LEVEL]
            assert [e.source["content"] for e in levels] == [{"level": "Confidential"}]
            # A raise reaches the client as the new level and the renamed room.
            put = gov.client("PUT", f"/rooms/{room}/state/{LEVEL}/", alice, {"level": "Secret"})
            assert put.status_code == 200, put.text
            later = await client.sync(timeout=0)
            assert isinstance(later, SyncResponse), later
            events = later.rooms.join[room].timeline.events
            assert [e.name for e in events if isinstance(e, RoomNameEvent)] == ["[SECRET] Budget"]
            assert client.rooms[room].display_name == "[SECRET] Budget"
        finally:
            await client.close()

    asyncio.run(run())


def test_the_console_sets_a_clearance_and_the_minimum_classification(gov: Gov) -> None:
    from tests.api.console.helpers import Console

    unit = gov.unit("MOD")
    alice, carol = gov.official("alice", unit), gov.official("carol", unit)
    clear(gov, alice, "Secret")
    clear(gov, carol, "Secret")
    room = create(gov, alice, "Secret", invite=[carol.user_id])
    console = Console(gov.server)
    try:
        assert console.sign_in("root").status_code == 303
        page = console.get(f"/officials/{carol.user_id}")
        assert 'id="clearance"' in page.text and "<option value=\"Secret\" selected>" in page.text
        done = console.post(f"/officials/{carol.user_id}/clearance", {"level": "Restricted"})
        assert done.status_code == 303, done.text
        assert gov.ok("GET", f"/officials/{carol.user_id}")["clearance"] == "Restricted"
        assert membership(gov, alice, room, carol)["membership"] == "leave"
        form = {f"policy.{key}": "" for key in gov.ok("GET", f"/units/{unit}/policy")["effective"]}
        saved = console.post(f"/units/{unit}/policy", {**form, "policy.min_room_classification": "Confidential"})
        assert saved.status_code == 303, saved.text
        assert gov.ok("GET", f"/units/{unit}/policy")["effective"]["min_room_classification"] == "Confidential"
    finally:
        console.close()


def test_element_x_sees_the_marking_in_the_sliding_sync_room_name(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice = gov.official("alice", unit)
    clear(gov, alice, "Secret")
    room = create(gov, alice, "Secret", name="Budget")
    response = gov.http.post("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", params={"timeout": "0"},
                             headers=alice.auth, json={"lists": {"all": {"ranges": [[0, 10]], "timeline_limit": 1, "required_state": []}}})
    assert response.status_code == 200, response.text
    assert response.json()["rooms"][room]["name"] == "[SECRET] Budget"


def test_a_room_that_replaces_a_classified_one_cant_go_below_its_level(gov: Gov) -> None:
    """An upgrade's new room names the old one as predecessor: it holds the old level even where the
    copied state forgets or lowers it, and only for a creator who is in the old room."""
    unit = gov.unit("MOD")
    alice, bob, dave = gov.official("alice", unit), gov.official("bob", unit), gov.official("dave", unit)
    clear(gov, alice, "Secret")
    old = create(gov, alice, "Secret", name="Budget")
    successor = {"predecessor": {"room_id": old, "event_id": "$old"}}
    refused(gov.client("POST", "/createRoom", alice, {"creation_content": successor, "invite": [bob.user_id]}),
            "classified Secret")
    refused(gov.client("POST", "/createRoom", alice, {"creation_content": successor,
                                                      "initial_state": [classified("Restricted")]}),
            "can't be lowered (it is Secret)")
    new = gov.client("POST", "/createRoom", alice, {"creation_content": successor})
    assert new.status_code == 200, new.text
    refused(gov.client("POST", f"/rooms/{new.json()['room_id']}/invite", alice, {"user_id": bob.user_id}),
            "classified Secret")
    # Someone outside the old room can't borrow its level (nor learn it).
    borrowed = gov.client("POST", "/createRoom", bob, {"creation_content": successor, "invite": [dave.user_id]})
    assert borrowed.status_code == 200, borrowed.text


def test_the_knock_route_and_a_restricted_join_are_refused_below_the_room_level(gov: Gov) -> None:
    unit = gov.unit("MOD")
    alice, bob = gov.official("alice", unit), gov.official("bob", unit)
    clear(gov, alice, "Secret")
    knockable = create(gov, alice, "Secret", name="Estimates")
    assert gov.client("PUT", f"/rooms/{knockable}/state/m.room.join_rules/", alice,
                      {"join_rule": "knock"}).status_code == 200
    refused(gov.client("POST", f"/knock/{knockable}", bob, {"reason": "may I"}), "classification (Secret)")
    # A room restricted to members of an unclassified space: being in the space is not enough.
    space = gov.client("POST", "/createRoom", alice, {"creation_content": {"type": "m.space"}, "preset": "public_chat"})
    assert space.status_code == 200, space.text
    space_id = space.json()["room_id"]
    assert gov.client("POST", f"/rooms/{space_id}/join", bob, {}).status_code == 200
    restricted = create(gov, alice, "Secret", name="Cabinet")
    rule = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space_id}]}
    assert gov.client("PUT", f"/rooms/{restricted}/state/m.room.join_rules/", alice, rule).status_code == 200
    refused(gov.client("POST", f"/rooms/{restricted}/join", bob, {}), "classification (Secret)")
    assert membership(gov, alice, restricted, bob)["membership"] == "leave"
    assert membership(gov, alice, knockable, bob)["membership"] == "leave"
    # Once cleared, both ways in work.
    clear(gov, bob, "Secret")
    assert gov.client("POST", f"/rooms/{restricted}/join", bob, {}).status_code == 200
    assert gov.client("POST", f"/knock/{knockable}", bob, {"reason": "may I"}).status_code == 200
    assert membership(gov, alice, knockable, bob)["membership"] == "knock"
