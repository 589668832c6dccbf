"""Encryption follows the official: whose unit requires it sends no plaintext in any room, whoever made it.

A room made by an account outside the unit tree carries no io.qasid.policy marker and may lack
m.room.encryption; an official who must encrypt can't join such a room, nor send plaintext in it
if they were there before their unit's policy required encryption.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.gov.helpers import PASSWORD, Gov, Session

CIPHER = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "sender_key": "k", "device_id": "D",
          "session_id": "s"}

# Every kind of non-state event a client can put in a room, in plaintext.
PLAINTEXT: list[tuple[str, dict[str, Any]]] = [
    ("m.room.message", {"msgtype": "m.text", "body": "the measured hole"}),
    ("m.room.message", {"msgtype": "m.notice", "body": "n", "format": "org.matrix.custom.html",
                        "formatted_body": "<b>n</b>"}),
    ("m.sticker", {"body": "sticker", "url": "mxc://qasid.test/abc", "info": {}}),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "ok"},
                    "body": "smuggled"}),
    ("m.room.encrypted", {**CIPHER, "body": "beside the ciphertext"}),
    ("m.room.encrypted", {**CIPHER, "algorithm": "m.olm.v1.curve25519-aes-sha2"}),
    ("m.room.message", {**CIPHER, "m.relates_to": {"rel_type": "m.thread", "event_id": "$x", "body": "t"}}),
    ("org.example.custom", {"text": "anything"}),
    ("m.call.invite", {"call_id": "c", "version": "1", "lifetime": 1000, "offer": {"type": "offer", "sdp": "v=0"}}),
]


def outsiders_room(gov: Gov, *members: Session) -> str:
    """A room made by the operator's account (outside the tree): no policy marker, no encryption."""
    room = str(gov.client("POST", "/createRoom", gov.root, {"preset": "private_chat"}).json()["room_id"])
    for member in members:
        assert gov.client("POST", f"/rooms/{room}/invite", gov.root, {"user_id": member.user_id}).status_code == 200
    return room


def joined_before_policy(gov: Gov) -> tuple[Session, str, int]:
    """An official who joined the operator's plain room while their unit allowed plaintext; now it doesn't."""
    unit = gov.unit("MOF", encryption_required=False)
    alice = gov.official("alice", unit)
    room = outsiders_room(gov, alice)
    assert gov.client("POST", f"/rooms/{room}/join", alice, {}).status_code == 200
    assert gov.client("PUT", f"/rooms/{room}/send/m.room.message/before", alice,
                      {"msgtype": "m.text", "body": "still allowed"}).status_code == 200
    gov.ok("PUT", f"/units/{unit}/policy", {"encryption_required": True})
    return alice, room, unit


@pytest.mark.parametrize(("event_type", "content"), PLAINTEXT, ids=[f"{t}-{i}" for i, (t, _) in enumerate(PLAINTEXT)])
def test_an_official_who_must_encrypt_sends_no_plaintext_in_an_unmarked_room(
        gov: Gov, event_type: str, content: dict[str, Any]) -> None:
    alice, room, _ = joined_before_policy(gov)
    sent = gov.client("PUT", f"/rooms/{room}/send/{event_type}/t1", alice, content)
    assert sent.status_code == 403 and sent.json()["errcode"] == "M_FORBIDDEN", sent.text
    assert "Your unit's policy requires end-to-end encryption" in sent.json()["error"]


def test_what_may_travel_in_the_clear_still_does(gov: Gov) -> None:
    alice, room, _ = joined_before_policy(gov)
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/c1", alice, CIPHER)
    assert sent.status_code == 200, sent.text
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": sent.json()["event_id"], "key": "ok"}}
    assert gov.client("PUT", f"/rooms/{room}/send/m.reaction/r1", alice, reaction).status_code == 200
    redacted = gov.client("PUT", f"/rooms/{room}/redact/{sent.json()['event_id']}/x1", alice, {"reason": "typo"})
    assert redacted.status_code == 200, redacted.text
    # A profile change reaches the rooms the official is already in: it is not a join.
    assert gov.client("PUT", f"/profile/{alice.user_id}/displayname", alice,
                      {"displayname": "Alice A."}).status_code == 200
    # The operator, outside the tree, is not governed: plaintext in their own plain room passes.
    assert gov.client("PUT", f"/rooms/{room}/send/m.room.message/o1", gov.root,
                      {"msgtype": "m.text", "body": "operator"}).status_code == 200


def test_an_official_who_must_encrypt_cant_join_an_unencrypted_room_until_it_is_encrypted(gov: Gov) -> None:
    unit = gov.unit("MOI")
    bob = gov.official("bob", unit)
    room = outsiders_room(gov, bob)
    refused = gov.client("POST", f"/rooms/{room}/join", bob, {})
    assert refused.status_code == 403 and refused.json()["errcode"] == "M_FORBIDDEN", refused.text
    assert refused.json()["error"] == ("Your unit's policy requires end-to-end encryption:"
                                       " this room is not encrypted, so you can't join it")
    members = gov.client("GET", f"/rooms/{room}/joined_members", gov.root).json()["joined"]
    assert bob.user_id not in members
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.encryption/", gov.root,
                      {"algorithm": "m.megolm.v1.aes-sha2"}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/join", bob, {}).status_code == 200


def test_an_official_who_must_encrypt_cant_create_an_unencrypted_room(gov: Gov) -> None:
    bob = gov.official("bob", gov.unit("MOI"))
    made = gov.client("POST", "/createRoom", bob, {"preset": "public_chat"})
    assert made.status_code == 200
    encryption = gov.client("GET", f"/rooms/{made.json()['room_id']}/state/m.room.encryption/", bob)
    assert encryption.status_code == 200 and encryption.json()["algorithm"] == "m.megolm.v1.aes-sha2"
    refused = gov.client("POST", "/createRoom", bob, {"initial_state": [
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "none"}}]})
    assert refused.status_code == 403 and "m.megolm.v1.aes-sha2" in refused.json()["error"], refused.text


def forced_flags(gov: Gov) -> set[bool]:
    features = gov.http.get("/_matrix/client/versions").json()["unstable_features"]
    return {features[f"io.element.e2ee_forced.{kind}"] for kind in ("public", "private", "trusted_private")}


def test_versions_says_encryption_is_forced_only_when_it_is_for_every_account(gov: Gov) -> None:
    unit = gov.unit("MOJ")
    gov.official("carol", unit)
    # The operator's account is outside the tree, and plaintext is open to it.
    assert forced_flags(gov) == {False}
    gov.server.create_user("deputy", PASSWORD, admin=True)
    deputy = gov.login("deputy")
    gov.ok("PUT", f"/officials/{gov.root.user_id}", {"unit_id": unit}, as_=deputy)
    assert forced_flags(gov) == {False}  # the deputy is still outside
    gov.ok("PUT", f"/officials/{deputy.user_id}", {"unit_id": unit})
    assert forced_flags(gov) == {True}
    loose = gov.unit("MOJ-2", encryption_required=False)
    assert forced_flags(gov) == {False}
    gov.ok("PUT", f"/units/{loose}/policy", {"encryption_required": True})
    assert forced_flags(gov) == {True}
