"""Policy enforced by the server: encryption, invite scope, passwords, device caps, well-known."""

from __future__ import annotations

from tests.gov.helpers import PASSWORD, Gov


def test_create_room_without_encryption_comes_out_encrypted_and_plaintext_is_refused(gov: Gov) -> None:
    unit = gov.unit("MOF")
    alice = gov.official("alice", unit)
    room = gov.client("POST", "/createRoom", alice, {"name": "budget"}).json()["room_id"]
    state = gov.client("GET", f"/rooms/{room}/state/m.room.encryption/", alice)
    assert state.status_code == 200 and state.json()["algorithm"] == "m.megolm.v1.aes-sha2"
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.message/t1", alice, {"msgtype": "m.text", "body": "hi"})
    assert sent.status_code == 403 and sent.json()["errcode"] == "M_FORBIDDEN", sent.text
    assert "encrypt" in sent.json()["error"]
    cipher = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "sender_key": "k", "device_id": "D",
              "session_id": "s"}
    assert gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/t2", alice, cipher).status_code == 200
    # State events are never encrypted in Matrix: a name change passes.
    assert gov.client("PUT", f"/rooms/{room}/state/m.room.name/", alice, {"name": "x"}).status_code == 200
    for weaker in ({}, {"algorithm": "m.olm.v1.curve25519-aes-sha2"},
                   {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": 100000}):
        r = gov.client("PUT", f"/rooms/{room}/state/m.room.encryption/", alice, weaker)
        assert r.status_code == 403, (weaker, r.text)
    # The policy marker can't be rewritten either.
    r = gov.client("PUT", f"/rooms/{room}/state/io.qasid.policy/", alice, {"encryption_required": False})
    assert r.status_code == 403


def test_invite_scope_own_ministry_refuses_other_ministry_and_anyone_allows(gov: Gov) -> None:
    a = gov.unit("MIN-A", invite_scope="ministry")
    a_div = gov.unit("MIN-A-DIV", parent=a)
    b = gov.unit("MIN-B")
    alice = gov.official("alice", a_div)
    colleague = gov.official("colleague", a)
    bob = gov.official("bob", b)
    room = gov.client("POST", "/createRoom", alice, {}).json()["room_id"]
    refused = gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id})
    assert refused.status_code == 403 and "ministry" in refused.json()["error"], refused.text
    created = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]})
    assert created.status_code == 403 and "ministry" in created.json()["error"]
    assert gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": colleague.user_id}).status_code == 200
    gov.ok("PUT", f"/units/{a}/policy", {"invite_scope": "anyone"})
    assert gov.client("POST", f"/rooms/{room}/invite", alice, {"user_id": bob.user_id}).status_code == 200


def test_password_rules_are_advertised_and_enforced(gov: Gov) -> None:
    unit = gov.unit("STRICT", password_min_length=12, password_require_digit=True, password_require_symbol=True)
    token = gov.enrollment_token(unit)
    weak = gov.register("weakling", token, password="longbutnodigits")
    assert weak.status_code == 400 and weak.json()["errcode"] == "M_WEAK_PASSWORD", weak.text
    ok = gov.register("strong", token, password="long-enough-1!")
    assert ok.status_code == 200, ok.text
    session = ok.json()
    policy = gov.http.get("/_matrix/client/v3/password_policy",
                          headers={"authorization": f"Bearer {session['access_token']}"}).json()
    assert policy["m.minimum_length"] == 12 and policy["m.require_digit"] is True
    assert gov.http.get("/_matrix/client/v3/password_policy").json()["m.minimum_length"] == 8


def test_device_cap_is_enforced_at_login(gov: Gov) -> None:
    unit = gov.unit("CAPPED", max_devices=1)
    gov.official("solo", unit)
    refused = gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "solo"}, "password": PASSWORD})
    assert refused.status_code == 403 and "devices" in refused.json()["error"]
    well_known = gov.http.get("/.well-known/matrix/client").json()
    assert well_known["io.element.e2ee"]["default"] is True


def test_a_division_may_tighten_its_ministry_policy_never_loosen_it(gov: Gov) -> None:
    ministry = gov.unit("MOI", invite_scope="ministry", retention_days=30)
    division = gov.unit("MOI-DIV", parent=ministry)
    gov.official("dina", division)
    gov.ok("PUT", f"/units/{division}/admins/@dina:qasid.test", {"admin": True})
    dina = gov.login("dina")
    for looser in ({"encryption_required": False}, {"invite_scope": "anyone"}, {"retention_days": 90},
                   {"retention_days": None, "invite_scope": "anyone"}):
        for who in (dina, gov.root):  # a national admin is held to the same rule
            refused = gov.call("PUT", f"/units/{division}/policy", looser, as_=who)
            assert refused.status_code == 403 and refused.json()["errcode"] == "M_FORBIDDEN", refused.text
            assert "in force at MOI" in refused.json()["error"]
    assert gov.ok("GET", f"/units/{division}/policy")["own"] == {}
    tightened = gov.ok("PUT", f"/units/{division}/policy", {"invite_scope": "unit", "retention_days": 7,
                                                           "max_devices": 3}, as_=dina)
    assert tightened["effective"]["invite_scope"] == "unit" and tightened["effective"]["retention_days"] == 7
    # The ministry may let its divisions loosen one key below it; the refusal names the limit's source.
    gov.ok("PUT", f"/units/{ministry}/policy", {"allow_loosening": ["invite_scope"]})
    assert gov.ok("PUT", f"/units/{division}/policy", {"invite_scope": "anyone"}, as_=dina)["effective"][
        "invite_scope"] == "anyone"
    refused = gov.call("PUT", f"/units/{division}/policy", {"encryption_required": False}, as_=dina)
    assert refused.status_code == 403 and "allow_loosening" in refused.json()["error"]


def test_a_parent_tightening_later_overrides_a_looser_child_value(gov: Gov) -> None:
    ministry = gov.unit("MOJ")
    division = gov.unit("MOJ-DIV", parent=ministry, invite_scope="anyone", max_devices=10)
    gov.ok("PUT", f"/units/{ministry}/policy", {"invite_scope": "ministry", "max_devices": 2})
    shown = gov.ok("GET", f"/units/{division}/policy")
    assert shown["own"] == {"invite_scope": "anyone", "max_devices": 10}  # kept, for when the parent relaxes
    assert (shown["effective"]["invite_scope"], shown["effective"]["max_devices"]) == ("ministry", 2)
    # It is the effective value that is enforced: a third device is refused at login.
    alice = gov.official("alice", division)
    gov.login("alice")
    too_many = gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": PASSWORD})
    assert too_many.status_code == 403, too_many.text
    assert alice.user_id.startswith("@alice")
