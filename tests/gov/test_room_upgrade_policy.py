"""A room upgrade carries the government's state: the policy marker never weaker, encryption kept."""

from __future__ import annotations

from typing import Any

from tests.gov.helpers import Gov, Session

DAY = 86_400


def upgrade(gov: Gov, session: Session, room_id: str) -> str:
    response = gov.client("POST", f"/rooms/{room_id}/upgrade", session, {"new_version": "11"})
    assert response.status_code == 200, response.text
    return str(response.json()["replacement_room"])


def state(gov: Gov, session: Session, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    events = gov.client("GET", f"/rooms/{room_id}/state", session).json()
    return {(e["type"], e["state_key"]): e["content"] for e in events}


def test_the_policy_marker_goes_along_and_is_never_loosened(gov: Gov) -> None:
    strict = gov.unit("MOD", retention_days=30)
    lenient = gov.unit("MOT", encryption_required=False)
    alice = gov.official("alice", strict)
    bob = gov.official("bob", lenient)
    room = gov.client("POST", "/createRoom", alice, {"name": "Defence"}).json()["room_id"]
    marker = state(gov, alice, room)[("io.qasid.policy", "")]
    assert marker == {"encryption_required": True, "retention_seconds": 30 * DAY}

    # Bob's unit would make a looser room; upgrading Alice's room, he can't loosen its policy.
    assert gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/join", bob, {}).status_code == 200
    levels = state(gov, alice, room)[("m.room.power_levels", "")]
    levels["users"][bob.user_id] = 100
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.power_levels/", alice, levels).status_code == 200
    new = upgrade(gov, bob, room)
    carried = state(gov, bob, new)
    assert carried[("io.qasid.policy", "")] == marker
    assert carried[("m.room.encryption", "")]["algorithm"] == "m.megolm.v1.aes-sha2"
    # Plaintext stays refused in the replacement, as in the room it replaces.
    sent = gov.client("PUT", f"/rooms/{new}/send/m.room.message/t1", bob, {"msgtype": "m.text", "body": "hi"})
    assert sent.status_code == 403, sent.text


def test_an_upgrade_by_a_stricter_official_tightens_the_marker(gov: Gov) -> None:
    lenient = gov.unit("MOT", encryption_required=False)
    strict = gov.unit("MOD", retention_days=7)
    bob = gov.official("bob", lenient)
    alice = gov.official("alice", strict)
    room = gov.client("POST", "/createRoom", bob, {}).json()["room_id"]
    assert state(gov, bob, room)[("io.qasid.policy", "")] == {"encryption_required": False,
                                                              "retention_seconds": None}
    # Alice must encrypt: she joins once the room is encrypted, and is made an admin.
    encryption = {"algorithm": "m.megolm.v1.aes-sha2"}
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.encryption/", bob, encryption).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/invite", bob, {"user_id": alice.user_id}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/join", alice, {}).status_code == 200
    levels = state(gov, bob, room)[("m.room.power_levels", "")]
    levels["users"][alice.user_id] = 100
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.power_levels/", bob, levels).status_code == 200
    new = upgrade(gov, alice, room)
    assert state(gov, alice, new)[("io.qasid.policy", "")] == {"encryption_required": True,
                                                               "retention_seconds": 7 * DAY}

    # A marker can't be forged into a new room by naming a predecessor in createRoom.
    forged = gov.client("POST", "/createRoom", alice, {
        "creation_content": {"predecessor": {"room_id": room}},
        "initial_state": [{"type": "io.qasid.policy", "state_key": "",
                           "content": {"encryption_required": False, "retention_seconds": None}}]})
    assert forged.status_code == 200, forged.text
    assert state(gov, alice, forged.json()["room_id"])[("io.qasid.policy", "")] == {
        "encryption_required": True, "retention_seconds": 7 * DAY}
