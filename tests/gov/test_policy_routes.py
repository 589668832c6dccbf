"""Policy holds on every route: invite scope on each way an invitation can be sent, and "encryption
required" on what an event carries, not only on its type."""

from __future__ import annotations

from typing import Any

from qasid.gov.rules import MEGOLM, plaintext_problem
from tests.gov.helpers import Gov

SECRET = "the-minister-resigns-at-noon"
CIPHER = {"algorithm": MEGOLM, "ciphertext": "AwgAEnB", "sender_key": "k", "device_id": "D", "session_id": "s"}
ANNOTATION = {"rel_type": "m.annotation", "event_id": "$e", "key": "👍"}


def test_plaintext_problem_table() -> None:
    rows: list[tuple[str, dict[str, Any], bool]] = [
        ("m.room.encrypted", CIPHER, True),
        ("m.room.encrypted", {"algorithm": MEGOLM, "ciphertext": "A", "session_id": "s"}, True),
        ("m.room.encrypted", {**CIPHER, "m.relates_to": {"rel_type": "m.thread", "event_id": "$t",
                                                         "is_falling_back": True,
                                                         "m.in_reply_to": {"event_id": "$r"}}}, True),
        ("m.room.encrypted", {**CIPHER, "body": SECRET}, False),
        ("m.room.encrypted", {"algorithm": "none", "body": SECRET}, False),
        ("m.room.encrypted", {**CIPHER, "algorithm": "m.olm.v1.curve25519-aes-sha2"}, False),
        ("m.room.encrypted", {**CIPHER, "ciphertext": {"k": {"body": SECRET, "type": 0}}}, False),
        ("m.room.encrypted", {"algorithm": MEGOLM, "session_id": "s"}, False),
        ("m.room.encrypted", {**CIPHER, "m.relates_to": {**ANNOTATION, "body": SECRET}}, False),
        ("m.room.encrypted", {**CIPHER, "m.relates_to": {"m.in_reply_to": {"event_id": "$r", "body": SECRET}}},
         False),
        ("m.reaction", {"m.relates_to": ANNOTATION}, True),
        ("m.reaction", {"m.relates_to": ANNOTATION, "body": SECRET}, False),
        ("m.reaction", {"m.relates_to": {**ANNOTATION, "rel_type": "m.replace"}}, False),
        ("m.reaction", {"m.relates_to": "$e"}, False),
        ("m.reaction", {}, False),
        ("m.room.redaction", {"redacts": "$e", "reason": "typo"}, True),
        ("m.room.redaction", {"redacts": "$e", "body": SECRET}, False),
        ("m.room.message", {"msgtype": "m.text", "body": SECRET}, False),
        ("m.sticker", {"body": SECRET}, False),
    ]
    for event_type, content, allowed in rows:
        assert (plaintext_problem(event_type, content) is None) is allowed, (event_type, content)


def test_plaintext_is_refused_in_every_clear_event_type(gov: Gov) -> None:
    unit = gov.unit("MOF")
    alice = gov.official("alice", unit)
    room = gov.client("POST", "/createRoom", alice, {"name": "budget"}).json()["room_id"]
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/ok1", alice, CIPHER)
    assert sent.status_code == 200, sent.text
    target = sent.json()["event_id"]
    refused = [
        ("m.room.encrypted", {"algorithm": "none", "body": SECRET}),
        ("m.room.encrypted", {**CIPHER, "body": SECRET}),
        ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "x"}, "body": SECRET}),
        ("m.room.redaction", {"redacts": target, "body": SECRET}),
    ]
    for n, (event_type, content) in enumerate(refused):
        r = gov.client("PUT", f"/rooms/{room}/send/{event_type}/bad{n}", alice, content)
        assert r.status_code == 403 and r.json()["errcode"] == "M_FORBIDDEN", (event_type, r.text)
        assert "encrypt" in r.json()["error"]
    assert SECRET.encode() not in gov.server.dump_database()
    # What clients really send still passes: a reaction, an encrypted thread reply, a redaction with a reason.
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}
    assert gov.client("PUT", f"/rooms/{room}/send/m.reaction/ok2", alice, reaction).status_code == 200
    reply = {**CIPHER, "m.relates_to": {"rel_type": "m.thread", "event_id": target, "is_falling_back": True,
                                        "m.in_reply_to": {"event_id": target}}}
    assert gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/ok3", alice, reply).status_code == 200
    redacted = gov.client("PUT", f"/rooms/{room}/redact/{target}/ok4", alice, {"reason": "sent to the wrong room"})
    assert redacted.status_code == 200, redacted.text


def test_invite_scope_holds_on_every_way_to_invite(gov: Gov) -> None:
    mof = gov.unit("MOF", invite_scope="ministry")
    bud = gov.unit("MOF-BUD", parent=mof)
    moj = gov.unit("MOJ")
    alice = gov.official("alice", mof)
    colleague = gov.official("colleague", bud)
    carol = gov.official("carol", moj)
    room = gov.client("POST", "/createRoom", alice, {}).json()["room_id"]
    member_invite = {"membership": "invite"}
    attempts = [
        ("POST", f"/rooms/{room}/invite", {"user_id": carol.user_id}),
        ("PUT", f"/rooms/{room}/state/m.room.member/{carol.user_id}", member_invite),
        ("POST", "/createRoom", {"invite": [carol.user_id]}),
        ("POST", "/createRoom", {"initial_state": [
            {"type": "m.room.member", "state_key": carol.user_id, "content": member_invite}]}),
    ]
    rooms_before = gov.client("GET", "/joined_rooms", alice).json()["joined_rooms"]
    for method, path, body in attempts:
        r = gov.client(method, path, alice, body)
        assert r.status_code == 403 and "ministry" in r.json()["error"], (path, body, r.text)
    # Nothing was made: no half-created room, no invitation for carol, and she can't join.
    assert gov.client("GET", "/joined_rooms", alice).json()["joined_rooms"] == rooms_before
    assert gov.client("GET", "/sync?timeout=0", carol).json().get("rooms", {}).get("invite", {}) == {}
    assert gov.client("POST", f"/join/{room}", carol).status_code == 403
    # Within the ministry, the same raw state route works.
    ok = gov.client("PUT", f"/rooms/{room}/state/m.room.member/{colleague.user_id}", alice, member_invite)
    assert ok.status_code == 200, ok.text
    assert gov.client("POST", f"/join/{room}", colleague).status_code == 200
