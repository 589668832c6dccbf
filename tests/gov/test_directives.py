"""Directives over the admin API with plain HTTP clients: who may issue, the room, acknowledgements, status."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.gov.helpers import Gov, Session

CIPHER = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEiD", "session_id": "s1", "sender_key": "k",
          "device_id": "D"}


def _deadline(seconds: float = 3600) -> int:
    return int((time.time() + seconds) * 1000)


def _state(gov: Gov, session: Session, room_id: str, event_type: str) -> Any:
    response = gov.client("GET", f"/rooms/{room_id}/state/{event_type}/", session)
    assert response.status_code == 200, response.text
    return response.json()


def _send(gov: Gov, session: Session, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> str:
    response = gov.client("PUT", f"/rooms/{room_id}/send/{event_type}/{txn}", session, content)
    assert response.status_code == 200, response.text
    return str(response.json()["event_id"])


def test_directive_room_acknowledgements_status_and_membership(gov: Gov) -> None:
    ministry = gov.unit("MIN")
    division = gov.unit("MIN-DIV", parent=ministry)
    other = gov.unit("OTHER")
    chief = gov.official("chief", ministry, designation="Secretary")
    gov.ok("PUT", f"/units/{ministry}/admins/{chief.user_id}", {"admin": True})
    ann, ben, cat = (gov.official(n, division) for n in ("ann", "ben", "cat"))
    outsider = gov.official("olga", other)

    # An official without admin role or listed designation may not issue; an unknown unit is 404 alike.
    refused = gov.call("POST", "/directives", {"title": "T", "unit_ids": [division], "deadline_ts": _deadline()},
                       as_=ann)
    assert refused.status_code == 404 and refused.json()["errcode"] == "M_NOT_FOUND", refused.text
    beyond = gov.call("POST", "/directives", {"title": "T", "unit_ids": [other], "deadline_ts": _deadline()},
                      as_=chief)
    assert beyond.status_code == 404, beyond.text

    created = gov.ok("POST", "/directives", {"title": "Budget freeze", "unit_ids": [ministry],
                                             "deadline_ts": _deadline()}, as_=chief)
    room_id = created["room_id"]
    assert created["issuer"] == chief.user_id and room_id
    # The room is plain Matrix: a name and a topic any client shows, encryption, the metadata event.
    assert _state(gov, ann, room_id, "m.room.name")["name"] == "Directive: Budget freeze"
    assert "react" in _state(gov, ann, room_id, "m.room.topic")["topic"]
    assert _state(gov, ann, room_id, "m.room.encryption")["algorithm"] == "m.megolm.v1.aes-sha2"
    meta = _state(gov, ann, room_id, "io.qasid.directive")
    assert meta["directive_id"] == created["directive_id"] and meta["issuer"] == chief.user_id
    members = gov.client("GET", f"/rooms/{room_id}/joined_members", chief).json()["joined"]
    assert {ann.user_id, ben.user_id, cat.user_id, chief.user_id} <= set(members)
    assert outsider.user_id not in members
    # Nobody but the server sets a directive's metadata; members may not invite.
    forged = gov.client("PUT", f"/rooms/{room_id}/state/io.qasid.directive/", chief, {"directive_id": "x"})
    assert forged.status_code == 403, forged.text

    message = _send(gov, chief, room_id, "m.room.encrypted", CIPHER, "m1")
    _send(gov, ann, room_id, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": message,
                                                              "key": "✅"}}, "r1")
    reply = {**CIPHER, "m.relates_to": {"m.in_reply_to": {"event_id": message}}}
    _send(gov, ben, room_id, "m.room.encrypted", reply, "r2")
    receipt = gov.client("POST", f"/rooms/{room_id}/receipt/m.read/{message}", cat, {})
    assert receipt.status_code == 200, receipt.text
    status = gov.ok("GET", f"/directives/{created['directive_id']}", as_=chief)
    states = {p["user_id"]: (p["state"], p["how"]) for p in status["officials"]}
    assert states == {ann.user_id: ("acknowledged", "reaction"), ben.user_id: ("acknowledged", "reply"),
                      cat.user_id: ("read", None)}
    assert status["counts"] == {"recipients": 3, "acknowledged": 2, "read_only": 1, "not_read": 0}
    assert status["message_event_id"] == message
    # A national admin sees it; a recipient does not (404, as if unknown).
    assert gov.ok("GET", f"/directives/{created['directive_id']}")["counts"] == status["counts"]
    assert gov.call("GET", f"/directives/{created['directive_id']}", as_=ann).status_code == 404
    assert gov.ok("GET", "/directives", as_=ann)["directives"] == []

    # Reminder: one notice from the server's account, mentioning only cat.
    reminded = gov.ok("POST", f"/directives/{created['directive_id']}/remind", {}, as_=chief)
    assert reminded["reminded"] == [cat.user_id]

    # Moving an official in adds them; moving one out removes them.
    gov.ok("PUT", f"/officials/{outsider.user_id}", {"unit_id": division})
    gov.ok("PUT", f"/officials/{ben.user_id}", {"unit_id": other})
    members = gov.client("GET", f"/rooms/{room_id}/joined_members", chief).json()["joined"]
    assert outsider.user_id in members and ben.user_id not in members

    # Who leaves the room themselves is not pulled back in by the server's rounds; offboarded, they are no recipient.
    assert gov.client("POST", f"/rooms/{room_id}/leave", cat, {}).status_code == 200
    gov.ok("POST", "/maintenance/run", {})
    members = gov.client("GET", f"/rooms/{room_id}/joined_members", chief).json()["joined"]
    assert cat.user_id not in members
    gov.ok("POST", f"/officials/{cat.user_id}/offboard", {})
    assert cat.user_id not in {p["user_id"] for p in
                               gov.ok("GET", f"/directives/{created['directive_id']}")["officials"]}
    bad_policy = gov.call("PUT", f"/units/{ministry}/policy", {"directive_designations": ["A", "A"]})
    assert bad_policy.status_code == 400 and bad_policy.json()["errcode"] == "M_INVALID_PARAM"

    audit = gov.ok("GET", "/audit?limit=1000")["entries"]
    actions = [e["action"] for e in audit if e["target"] == created["directive_id"]]
    assert actions.count("directive.acknowledge") == 2
    assert {"directive.create", "directive.room", "directive.message", "directive.remind"} <= set(actions)


def test_a_designation_named_in_policy_may_issue_below_its_unit(gov: Gov) -> None:
    ministry = gov.unit("MIN", directive_designations=["Secretary"])
    division = gov.unit("MIN-DIV", parent=ministry)
    secretary = gov.official("sec", ministry, designation="Secretary")
    clerk = gov.official("clerk", ministry, designation="Clerk")
    gov.official("dan", division)
    body = {"title": "Leave rules", "unit_ids": [division], "deadline_ts": _deadline()}
    assert gov.call("POST", "/directives", body, as_=clerk).status_code == 404
    created = gov.ok("POST", "/directives", body, as_=secretary)
    assert created["room_id"]
    # Their own unit's admins see it.
    head = gov.official("head", ministry)
    gov.ok("PUT", f"/units/{ministry}/admins/{head.user_id}", {"admin": True})
    assert [d["directive_id"] for d in gov.ok("GET", "/directives", as_=head)["directives"]] == [
        created["directive_id"]]


def test_cli_creates_a_directive_the_server_opens_and_reminds(gov: Gov) -> None:
    ministry = gov.unit("MIN")
    chief = gov.official("chief", ministry, designation="Secretary")
    eve = gov.official("eve", ministry)
    created = json.loads(gov.server.cli("directive", "create", "--issuer", chief.user_id, "--unit", "MIN",
                                        "--title", "From the console", "--hours", "0.001"))
    assert created["room_id"] is None  # only the running server appends events
    directive_id = created["directive_id"]
    deadline = time.monotonic() + 60
    while gov.ok("GET", f"/directives/{directive_id}")["room_id"] is None:
        assert time.monotonic() < deadline, "the server never opened the directive's room"
        time.sleep(0.2)
    room_id = gov.ok("GET", f"/directives/{directive_id}")["room_id"]
    # The room is recorded as soon as it is made; its members are added right after.
    while gov.client("GET", f"/rooms/{room_id}/state/m.room.name/", eve).status_code == 403:
        assert time.monotonic() < deadline, "the target unit's official never joined the directive's room"
        time.sleep(0.2)
    assert _state(gov, eve, room_id, "m.room.name")["name"] == "Directive: From the console"
    listed = gov.server.cli("directive", "list")
    assert directive_id in listed and "From the console" in listed
    # Before the issuer has written anything there is nothing to remind of.
    early = gov.server.run_cli("directive", "remind", directive_id)
    assert early.returncode == 1 and "M_INVALID_PARAM" in early.stderr
    _send(gov, chief, room_id, "m.room.encrypted", CIPHER, "m1")
    # The deadline has passed: the server's round sends one reminder by itself, mentioning eve.
    deadline = time.monotonic() + 60
    while gov.ok("GET", f"/directives/{directive_id}")["reminded_ts"] is None:
        assert time.monotonic() < deadline, "no reminder after the deadline"
        time.sleep(0.2)
    messages = gov.client("GET", f"/rooms/{room_id}/messages?dir=b&limit=5", eve).json()["chunk"]
    notice = next(e for e in messages if e["type"] == "m.room.message")
    assert notice["sender"] == "@qasid-directives:qasid.test"
    assert notice["content"]["msgtype"] == "m.notice" and notice["content"]["m.mentions"] == {
        "user_ids": [eve.user_id]}
    assert json.loads(gov.server.cli("directive", "status", directive_id)) == gov.ok(
        "GET", f"/directives/{directive_id}")
