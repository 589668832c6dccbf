"""The room v11 authorization rules, one table row per rule outcome.

Each row is (event, room state before it, None if allowed else a fragment of
the refusal reason). Row ids name the rule from the spec's numbered list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest
from signedjson.key import decode_signing_key_base64, encode_verify_key_base64, get_verify_key
from signedjson.sign import sign_json

from qasid.core.auth_rules import AuthError, auth_types_for_event, check_event_auth, check_redaction_applies
from qasid.core.errors import MatrixError
from qasid.core.pdu import compute_event_id

ROOM = "!room:hs1"
CREATOR = "@creator:hs1"  # power 100
MOD = "@mod:hs1"  # power 50
ALICE = "@alice:hs1"  # power 0
BOB = "@bob:hs2"  # not in the room unless a row says so
EVE = "@eve:hs2"  # power 50, on another server

State = dict[tuple[str, str], dict[str, Any]]


def pdu(
    event_type: str, sender: str, content: dict[str, Any], state_key: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A PDU-shaped dict, as check_event_auth sees it."""
    event: dict[str, Any] = {
        "type": event_type,
        "room_id": ROOM,
        "sender": sender,
        "content": content,
        "origin_server_ts": 1,
        "depth": 10,
        "prev_events": ["$prev"],
        "auth_events": [],
        "hashes": {"sha256": "x"},
        "signatures": {sender.split(":", 1)[1]: {"ed25519:1": "x"}},
    }
    if state_key is not None:
        event["state_key"] = state_key
    event.update(extra)
    return event


def member(sender: str, target: str, membership: str, **content: Any) -> dict[str, Any]:
    return pdu("m.room.member", sender, {"membership": membership, **content}, target)


def room(
    join_rule: str | None = "public",
    power: dict[str, Any] | None = None,
    members: dict[str, str] | None = None,
    extra: Iterable[dict[str, Any]] = (),
    create_content: dict[str, Any] | None = None,
) -> State:
    """Room state: create, creator/mod/alice joined, power levels, join rules."""
    events = [pdu("m.room.create", CREATOR, create_content or {"room_version": "11"}, "")]
    memberships = {CREATOR: "join", MOD: "join", ALICE: "join", **(members or {})}
    events += [member(user, user, m) for user, m in memberships.items()]
    if power is not None:
        events.append(pdu("m.room.power_levels", CREATOR, power, ""))
    if join_rule is not None:
        events.append(pdu("m.room.join_rules", CREATOR, {"join_rule": join_rule}, ""))
    events += list(extra)
    return {(e["type"], e["state_key"]): e for e in events}


def levels(**overrides: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"users": {CREATOR: 100, MOD: 50, EVE: 50}}
    content.update(overrides)
    return content


BASE = room(power=levels())
NO_LEVELS = room(power=None)

# --- third-party invites: a real identity-server key, for rule 4.4.1.7 ---------

ID_KEY = decode_signing_key_base64("ed25519", "0", "B" * 43)
OTHER_KEY = decode_signing_key_base64("ed25519", "0", "C" * 43)
ID_PUBLIC_KEY = encode_verify_key_base64(get_verify_key(ID_KEY))


def tpi_state(sender: str = ALICE, **content: Any) -> State:
    tpi_content = {"public_key": ID_PUBLIC_KEY, "display_name": "b…", **content}
    invite = pdu("m.room.third_party_invite", sender, tpi_content, "tok")
    return room(power=levels(), extra=[invite])


def tpi_invite(signed: dict[str, Any] | None = None, key: Any = ID_KEY, sign: bool = True) -> dict[str, Any]:
    body = signed if signed is not None else {"mxid": BOB, "token": "tok"}
    if sign:
        body = sign_json(dict(body), "id.example", key)
    return member(ALICE, BOB, "invite", third_party_invite={"signed": body})


def restricted_join(authoriser: str | None, signers: Iterable[str]) -> dict[str, Any]:
    content = {} if authoriser is None else {"join_authorised_via_users_server": authoriser}
    event = member(BOB, BOB, "join", **content)
    event["signatures"] = {server: {"ed25519:1": "x"} for server in signers}
    return event


CREATE_ONLY = {("m.room.create", ""): BASE[("m.room.create", "")]}
CREATE_ID = compute_event_id(CREATE_ONLY[("m.room.create", "")])

# One row per line reads as a table; keep the formatter away from it.
# fmt: off
CASES = [
    # Rule 1: m.room.create
    pytest.param(pdu("m.room.create", CREATOR, {"room_version": "11"}, "", prev_events=[]), {}, None, id="1-create-allowed"),
    pytest.param(pdu("m.room.create", CREATOR, {}, "", prev_events=[]), {}, None, id="1-create-needs-no-creator-or-version"),
    pytest.param(pdu("m.room.create", CREATOR, {}, ""), {}, "prev_events", id="1.1-create-with-prev-events"),
    pytest.param(pdu("m.room.create", BOB, {}, "", prev_events=[]), {}, "different servers", id="1.2-create-sender-not-room-server"),
    pytest.param(pdu("m.room.create", CREATOR, {"room_version": "999"}, "", prev_events=[]), {}, "unrecognised", id="1.3-create-unknown-version"),
    # Rule 2: the auth events themselves
    pytest.param(pdu("m.room.message", ALICE, {}), {k: v for k, v in BASE.items() if k[0] != "m.room.create"}, "no m.room.create", id="2.4-no-create"),
    pytest.param(pdu("m.room.message", ALICE, {}), {**BASE, ("m.room.power_levels", ""): {**BASE[("m.room.power_levels", "")], "room_id": "!other:hs1"}}, "another room", id="2.5-auth-event-of-another-room"),
    # Rule 3: m.federate
    pytest.param(pdu("m.room.message", BOB, {}), room(power=levels(), members={BOB: "join"}, create_content={"m.federate": False}), "not federated", id="3-unfederated-remote-sender"),
    pytest.param(pdu("m.room.message", ALICE, {}), room(power=levels(), create_content={"m.federate": False}), None, id="3-unfederated-local-sender"),
    pytest.param(pdu("m.room.message", BOB, {}), room(power=levels(), members={BOB: "join"}, create_content={"m.federate": True}), None, id="3-federated-remote-sender"),
    # Rule 4.1
    pytest.param(pdu("m.room.member", BOB, {"membership": "join"}), BASE, "state_key", id="4.1-member-without-state-key"),
    pytest.param(pdu("m.room.member", BOB, {}, BOB), BASE, "membership", id="4.1-member-without-membership"),
    # Rule 4.2
    pytest.param(restricted_join(MOD, ["hs2"]), room("restricted", levels()), None, id="4.2-authoriser-signature-is-checked-on-receipt"),
    # Rule 4.3: join
    pytest.param({**member(CREATOR, CREATOR, "join"), "prev_events": [CREATE_ID]}, CREATE_ONLY, None, id="4.3.1-creator-first-join"),
    pytest.param(member(CREATOR, CREATOR, "join"), CREATE_ONLY, "does not let", id="4.3.1-creator-join-after-other-events"),
    pytest.param(member(ALICE, BOB, "join"), BASE, "sender must be its state_key", id="4.3.2-join-for-someone-else"),
    pytest.param(member(BOB, BOB, "join"), room(power=levels(), members={BOB: "ban"}), "banned", id="4.3.3-banned-join"),
    pytest.param(member(BOB, BOB, "join"), room("invite", levels(), {BOB: "invite"}), None, id="4.3.4-invite-rule-invited"),
    pytest.param(member(ALICE, ALICE, "join", displayname="A"), room("invite", levels()), None, id="4.3.4-invite-rule-already-joined"),
    pytest.param(member(BOB, BOB, "join"), room("invite", levels()), "does not let", id="4.3.4-invite-rule-uninvited"),
    pytest.param(member(BOB, BOB, "join"), room("knock", levels(), {BOB: "invite"}), None, id="4.3.4-knock-rule-invited"),
    pytest.param(member(BOB, BOB, "join"), room("knock", levels(), {BOB: "knock"}), "does not let", id="4.3.4-knock-rule-still-knocking"),
    pytest.param(member(BOB, BOB, "join"), room(None, levels(), {BOB: "invite"}), None, id="4.3.4-no-join-rules-means-invite"),
    pytest.param(member(BOB, BOB, "join"), room(None, levels()), "does not let", id="4.3.4-no-join-rules-uninvited"),
    pytest.param(member(BOB, BOB, "join"), room("restricted", levels(), {BOB: "invite"}), None, id="4.3.5.1-restricted-invited"),
    pytest.param(member(ALICE, ALICE, "join", displayname="A"), room("restricted", levels()), None, id="4.3.5.1-restricted-already-joined"),
    pytest.param(member(BOB, BOB, "join"), room("knock_restricted", levels(), {BOB: "knock"}), "join_authorised_via_users_server", id="4.3.5.2-knock-restricted-knocking-needs-authoriser"),
    pytest.param(restricted_join(MOD, ["hs1", "hs2"]), room("restricted", levels(), {BOB: "ban"}), "banned", id="4.3.3-restricted-banned-even-if-authorised"),
    pytest.param(restricted_join(MOD, ["hs1", "hs2"]), room("restricted", levels(invite=50)), None, id="4.3.5.3-restricted-authorised"),
    pytest.param(restricted_join(MOD, ["hs1", "hs2"]), room("knock_restricted", levels()), None, id="4.3.5.3-knock-restricted-authorised"),
    pytest.param(restricted_join(None, ["hs2"]), room("restricted", levels()), "join_authorised_via_users_server", id="4.3.5.2-restricted-no-authoriser"),
    pytest.param(restricted_join(ALICE, ["hs1", "hs2"]), room("restricted", levels(invite=50)), "joined member who may invite", id="4.3.5.2-authoriser-may-not-invite"),
    pytest.param(restricted_join("@gone:hs1", ["hs1", "hs2"]), room("restricted", levels()), "joined member", id="4.3.5.2-authoriser-not-joined"),
    pytest.param(member(BOB, BOB, "join"), BASE, None, id="4.3.6-public-join"),
    pytest.param(member(BOB, BOB, "join"), room("private", levels()), "does not let", id="4.3.7-private-join"),
    # Rule 4.4: invite
    pytest.param(member(ALICE, BOB, "invite"), BASE, None, id="4.4.4-invite"),
    pytest.param(member(ALICE, BOB, "invite"), room(power=levels(invite=50)), "lacks the power to invite", id="4.4.5-invite-below-invite-level"),
    pytest.param(member(BOB, EVE, "invite"), room(power=levels(), members={BOB: "invite"}), "not joined", id="4.4.2-invite-by-non-member"),
    pytest.param(member(ALICE, MOD, "invite"), BASE, "may not be invited", id="4.4.3-invite-joined-user"),
    pytest.param(member(ALICE, BOB, "invite"), room(power=levels(), members={BOB: "ban"}), "may not be invited", id="4.4.3-invite-banned-user"),
    pytest.param(tpi_invite(), tpi_state(), None, id="4.4.1.7-third-party-invite"),
    pytest.param(tpi_invite(), tpi_state(public_key="x", public_keys=[{"public_key": ID_PUBLIC_KEY}]), None, id="4.4.1.7-third-party-invite-key-in-list"),
    pytest.param(tpi_invite(), {**tpi_state(), ("m.room.member", BOB): member(MOD, BOB, "ban")}, "banned", id="4.4.1.1-third-party-invite-banned"),
    pytest.param(member(ALICE, BOB, "invite", third_party_invite={}), tpi_state(), "no signed", id="4.4.1.2-third-party-invite-unsigned"),
    pytest.param(tpi_invite({"mxid": BOB}), tpi_state(), "mxid and token", id="4.4.1.3-third-party-invite-no-token"),
    pytest.param(tpi_invite({"mxid": EVE, "token": "tok"}), tpi_state(), "not the state_key", id="4.4.1.4-third-party-invite-other-mxid"),
    pytest.param(tpi_invite({"mxid": BOB, "token": "nope"}), tpi_state(), "no m.room.third_party_invite", id="4.4.1.5-third-party-invite-unknown-token"),
    pytest.param(tpi_invite(), tpi_state(sender=MOD), "did not send", id="4.4.1.6-third-party-invite-other-sender"),
    pytest.param(tpi_invite(key=OTHER_KEY), tpi_state(), "matches none", id="4.4.1.8-third-party-invite-wrong-key"),
    pytest.param(tpi_invite(sign=False), tpi_state(), "matches none", id="4.4.1.8-third-party-invite-no-signatures"),
    # Rule 4.5: leave
    pytest.param(member(ALICE, ALICE, "leave"), BASE, None, id="4.5.1-leave"),
    pytest.param(member(BOB, BOB, "leave"), room(power=levels(), members={BOB: "invite"}), None, id="4.5.1-reject-invite"),
    pytest.param(member(BOB, BOB, "leave"), room("knock", levels(), {BOB: "knock"}), None, id="4.5.1-withdraw-knock"),
    pytest.param(member(BOB, BOB, "leave"), BASE, "cannot leave", id="4.5.1-leave-when-not-member"),
    pytest.param(member(BOB, BOB, "leave"), room(power=levels(), members={BOB: "ban"}), "cannot leave", id="4.5.1-banned-may-not-unban-self"),
    pytest.param(member(BOB, ALICE, "leave"), room(power=levels(), members={BOB: "invite"}), "not joined", id="4.5.2-kick-by-non-member"),
    pytest.param(member(MOD, BOB, "leave"), room(power=levels(ban=100), members={BOB: "ban"}), "unban", id="4.5.3-unban-below-ban-level"),
    pytest.param(member(MOD, BOB, "leave"), room(power=levels(), members={BOB: "ban"}), None, id="4.5.4-unban"),
    pytest.param(member(MOD, ALICE, "leave"), BASE, None, id="4.5.4-kick"),
    pytest.param(member(ALICE, MOD, "leave"), BASE, "lacks the power to kick", id="4.5.5-kick-someone-higher"),
    pytest.param(member(MOD, EVE, "leave"), room(power=levels(), members={EVE: "join"}), "lacks the power to kick", id="4.5.5-kick-an-equal"),
    pytest.param(member(ALICE, BOB, "leave"), room(power=levels(kick=0, users={ALICE: 1}), members={BOB: "join"}), None, id="4.5.4-kick-level-zero"),
    pytest.param(member(ALICE, BOB, "leave"), room(power=levels(kick=0), members={BOB: "join"}), "lacks the power to kick", id="4.5.5-kick-an-equal-at-zero"),
    # Rule 4.6: ban
    pytest.param(member(MOD, ALICE, "ban"), BASE, None, id="4.6.2-ban"),
    pytest.param(member(MOD, BOB, "ban"), BASE, None, id="4.6.2-ban-non-member"),
    pytest.param(member(ALICE, MOD, "ban"), BASE, "lacks the power to ban", id="4.6.3-ban-someone-higher"),
    pytest.param(member(MOD, ALICE, "ban"), room(power=levels(ban=100)), "lacks the power to ban", id="4.6.3-ban-below-ban-level"),
    pytest.param(member(EVE, ALICE, "ban"), BASE, "not joined", id="4.6.1-ban-by-non-member"),
    # Rule 4.7: knock
    pytest.param(member(BOB, BOB, "knock"), room("knock", levels()), None, id="4.7.3-knock"),
    pytest.param(member(BOB, BOB, "knock"), room("knock_restricted", levels()), None, id="4.7.3-knock-restricted"),
    pytest.param(member(BOB, BOB, "knock"), BASE, "does not allow knocking", id="4.7.1-knock-on-public"),
    pytest.param(member(ALICE, BOB, "knock"), room("knock", levels()), "sender must be its state_key", id="4.7.2-knock-for-someone-else"),
    pytest.param(member(BOB, BOB, "knock"), room("knock", levels(), {BOB: "invite"}), "cannot knock", id="4.7.4-knock-while-invited"),
    pytest.param(member(BOB, BOB, "knock"), room("knock", levels(), {BOB: "ban"}), "cannot knock", id="4.7.4-knock-while-banned"),
    # Rule 4.8
    pytest.param(member(ALICE, ALICE, "dance"), BASE, "unknown membership", id="4.8-unknown-membership"),
    # Rule 5: the sender must be joined
    pytest.param(pdu("m.room.message", ALICE, {"body": "hi"}), BASE, None, id="5-joined-sender"),
    pytest.param(pdu("m.room.message", BOB, {"body": "hi"}), BASE, "not joined", id="5-stranger"),
    pytest.param(pdu("m.room.message", BOB, {"body": "hi"}), room(power=levels(), members={BOB: "invite"}), "not joined", id="5-invited-not-joined"),
    # Rule 6: m.room.third_party_invite
    pytest.param(pdu("m.room.third_party_invite", ALICE, {}, "tok"), BASE, None, id="6-third-party-invite-event"),
    pytest.param(pdu("m.room.third_party_invite", ALICE, {}, "tok"), room(power=levels(invite=50)), "may not invite", id="6-third-party-invite-below-invite-level"),
    # Rule 7: the event type's required power level
    pytest.param(pdu("m.room.name", MOD, {"name": "x"}, ""), BASE, None, id="7-state-at-state-default"),
    pytest.param(pdu("m.room.name", ALICE, {"name": "x"}, ""), BASE, "needs power 50", id="7-state-below-state-default"),
    pytest.param(pdu("m.room.name", ALICE, {"name": "x"}, ""), room(power=levels(events={"m.room.name": 0})), None, id="7-events-override-lowers"),
    pytest.param(pdu("m.room.message", ALICE, {}), room(power=levels(events={"m.room.message": 10})), "needs power 10", id="7-events-override-raises"),
    pytest.param(pdu("m.room.message", ALICE, {}), room(power=levels(events_default=10)), "needs power 10", id="7-events-default"),
    pytest.param(pdu("m.room.topic", ALICE, {}, ""), room(power=levels(state_default=0)), None, id="7-state-default-lowered"),
    pytest.param(pdu("m.room.name", CREATOR, {}, ""), NO_LEVELS, None, id="7-no-levels-creator-has-100"),
    pytest.param(pdu("m.room.name", ALICE, {}, ""), NO_LEVELS, "needs power 50", id="7-no-levels-state-needs-50"),
    pytest.param(pdu("m.room.message", ALICE, {}), NO_LEVELS, None, id="7-no-levels-messages-need-0"),
    pytest.param(pdu("m.room.redaction", ALICE, {"redacts": "$e"}), BASE, None, id="7-redaction-ignores-redact-level"),
    pytest.param(pdu("m.room.redaction", ALICE, {"redacts": "$e"}), room(power=levels(events={"m.room.redaction": 50})), "needs power 50", id="7-redaction-event-level"),
    # Rule 8: state keys naming a user
    pytest.param(pdu("org.example.status", MOD, {}, MOD), BASE, None, id="8-own-user-state-key"),
    pytest.param(pdu("org.example.status", MOD, {}, ALICE), BASE, "starting with '@'", id="8-other-user-state-key"),
    # Rule 9: m.room.power_levels
    pytest.param(pdu("m.room.power_levels", MOD, levels(ban="50"), ""), BASE, "'ban' must be an integer", id="9.1-string-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(kick=True), ""), BASE, "'kick' must be an integer", id="9.1-boolean-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(events={"m.room.name": "50"}), ""), BASE, "'events' must map", id="9.2-string-event-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(notifications=[]), ""), BASE, "'notifications' must map", id="9.2-notifications-not-object"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: 50, "bob": 0}), ""), BASE, "'users' must map", id="9.3-users-key-not-user-id"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: "50"}), ""), BASE, "'users' must map", id="9.3-users-value-string"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users=[CREATOR]), ""), BASE, "'users' must map", id="9.3-users-not-object"),
    pytest.param(pdu("m.room.power_levels", CREATOR, {"users": {ALICE: 100}, "ban": 1000}, ""), NO_LEVELS, None, id="9.4-first-power-levels"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(ban=40), ""), BASE, None, id="9.5-lower-a-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(ban=50, kick=10), ""), room(power=levels(ban=50, kick=50)), None, id="9.5-add-within-own-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(ban=75), ""), BASE, "may not set 'ban'", id="9.5.2-raise-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(kick=50), ""), room(power=levels(kick=100)), "may not change 'kick'", id="9.5.1-change-level-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(), ""), room(power=levels(kick=100)), "may not change 'kick'", id="9.5.1-remove-level-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(events={"m.room.name": 50}), ""), BASE, None, id="9.7-add-event-at-own-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(events={"m.room.name": 60}), ""), BASE, "events['m.room.name']", id="9.7-add-event-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(events={}), ""), room(power=levels(events={"m.room.name": 100})), "events['m.room.name']", id="9.6-remove-event-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(notifications={"room": 100}), ""), BASE, "notifications['room']", id="9.7-raise-notification-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(notifications={"room": 0}), ""), room(power=levels(notifications={"room": 50})), None, id="9.6-lower-notification-at-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: 50, EVE: 50, ALICE: 50}), ""), BASE, None, id="9.9-promote-to-own-level"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: 50, EVE: 50, ALICE: 51}), ""), BASE, "above their own", id="9.9-promote-above-own"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 0, MOD: 50, EVE: 50}), ""), BASE, "not below theirs", id="9.8-demote-higher"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: 50}), ""), BASE, "not below theirs", id="9.8-remove-equal"),
    pytest.param(pdu("m.room.power_levels", MOD, levels(users={CREATOR: 100, MOD: 0, EVE: 50}), ""), BASE, None, id="9.8-demote-self"),
    pytest.param(pdu("m.room.power_levels", CREATOR, levels(users={CREATOR: 100}), ""), BASE, None, id="9.8-remove-lower"),
    pytest.param(pdu("m.room.power_levels", ALICE, levels(), ""), BASE, "needs power 50", id="7-power-levels-need-state-level"),
]
# fmt: on


@pytest.mark.parametrize(("event", "state", "refusal"), CASES)
def test_check_event_auth(event: dict[str, Any], state: State, refusal: str | None) -> None:
    if refusal is None:
        check_event_auth(event, state)
    else:
        with pytest.raises(AuthError, match=re.escape(refusal)):
            check_event_auth(event, state)


@pytest.mark.parametrize(("event", "state", "refusal"), CASES)
def test_selected_auth_events_are_enough(event: dict[str, Any], state: State, refusal: str | None) -> None:
    # The verdict must not change when the state is cut down to what
    # auth_types_for_event selects: that is what a PDU's auth_events hold.
    selected = {key: state[key] for key in auth_types_for_event(event) if key in state}
    outcomes = []
    for given in (state, selected):
        try:
            check_event_auth(event, given)
            outcomes.append("allowed")
        except AuthError as refusal_error:
            outcomes.append(str(refusal_error))
    assert outcomes[0] == outcomes[1]


def test_auth_error_is_a_forbidden_matrix_error() -> None:
    with pytest.raises(MatrixError) as caught:
        check_event_auth(pdu("m.room.message", BOB, {}), BASE)
    assert (caught.value.status, caught.value.errcode) == (403, "M_FORBIDDEN")
    assert str(caught.value) == f"{BOB} is not joined to the room"


# --- auth_types_for_event -------------------------------------------------------

COMMON = [("m.room.create", ""), ("m.room.power_levels", "")]


# fmt: off
AUTH_TYPE_CASES = [
    pytest.param(pdu("m.room.create", CREATOR, {}, ""), [], id="create"),
    pytest.param(pdu("m.room.message", ALICE, {}), [*COMMON, ("m.room.member", ALICE)], id="message"),
    pytest.param(member(BOB, BOB, "join"), [*COMMON, ("m.room.member", BOB), ("m.room.join_rules", "")], id="join"),
    pytest.param(member(ALICE, BOB, "invite"), [*COMMON, ("m.room.member", ALICE), ("m.room.member", BOB), ("m.room.join_rules", "")], id="invite"),
    pytest.param(member(BOB, BOB, "knock"), [*COMMON, ("m.room.member", BOB), ("m.room.join_rules", "")], id="knock"),
    pytest.param(member(MOD, ALICE, "leave"), [*COMMON, ("m.room.member", MOD), ("m.room.member", ALICE)], id="kick"),
    pytest.param(member(MOD, ALICE, "ban"), [*COMMON, ("m.room.member", MOD), ("m.room.member", ALICE)], id="ban"),
    pytest.param(tpi_invite(), [*COMMON, ("m.room.member", ALICE), ("m.room.member", BOB), ("m.room.join_rules", ""), ("m.room.third_party_invite", "tok")], id="third-party-invite"),
    pytest.param(restricted_join(MOD, ["hs1"]), [*COMMON, ("m.room.member", BOB), ("m.room.join_rules", ""), ("m.room.member", MOD)], id="restricted-join"),
    pytest.param(member(BOB, BOB, "leave", join_authorised_via_users_server=MOD), [*COMMON, ("m.room.member", BOB)], id="authoriser-only-for-joins"),
]
# fmt: on


@pytest.mark.parametrize(("event", "expected"), AUTH_TYPE_CASES)
def test_auth_types_for_event(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert auth_types_for_event(event) == expected


# --- applying redactions ("Handling redactions", not an auth rule) -------------

ALICE_MESSAGE = pdu("m.room.message", ALICE, {"body": "hi"})
EVE_MESSAGE = pdu("m.room.message", EVE, {"body": "hi"})


@pytest.mark.parametrize(
    ("redactor", "target", "room_id", "refusal"),
    [
        pytest.param(MOD, ALICE_MESSAGE, ROOM, None, id="redact-level"),
        pytest.param(ALICE, ALICE_MESSAGE, ROOM, None, id="own-event"),
        pytest.param(ALICE, pdu("m.room.message", MOD, {}), ROOM, None, id="same-server"),
        pytest.param(BOB, EVE_MESSAGE, ROOM, None, id="same-remote-server"),
        pytest.param(BOB, ALICE_MESSAGE, ROOM, "other servers", id="other-server-low-power"),
        pytest.param(EVE, ALICE_MESSAGE, ROOM, None, id="other-server-with-redact-level"),
        pytest.param(MOD, ALICE_MESSAGE, "!elsewhere:hs1", "different rooms", id="other-room"),
    ],
)
def test_check_redaction_applies(
    redactor: str, target: dict[str, Any], room_id: str, refusal: str | None
) -> None:
    redaction = pdu("m.room.redaction", redactor, {"redacts": "$e"}, room_id=room_id)
    if refusal is None:
        check_redaction_applies(redaction, target, BASE)
    else:
        with pytest.raises(AuthError, match=refusal):
            check_redaction_applies(redaction, target, BASE)
