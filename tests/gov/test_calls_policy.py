"""Calls follow unit policy: signalling obeys the encryption rule, and a unit may switch calls off."""

from __future__ import annotations

from tests.gov.helpers import Gov

CALL_MEMBER = "org.matrix.msc3401.call.member"
INVITE = {"call_id": "c1", "party_id": "p1", "version": "1", "lifetime": 60000,
          "offer": {"type": "offer", "sdp": "v=0\r\n"}}


def test_call_signalling_in_the_clear_is_refused_where_encryption_is_required(gov: Gov) -> None:
    unit = gov.unit("MOF")
    alice = gov.official("alice", unit)
    room_id = gov.client("POST", "/createRoom", alice, {}).json()["room_id"]
    for event_type in ("m.call.invite", "m.call.candidates", "m.call.hangup"):
        response = gov.client("PUT", f"/rooms/{room_id}/send/{event_type}/t-{event_type}", alice, INVITE)
        assert response.status_code == 403, response.text
        assert "requires end-to-end encryption" in response.json()["error"]
    # MatrixRTC membership is state, as MSC4143 defines it: allowed while calls are on.
    member = {"application": "m.call", "call_id": "", "device_id": alice.device_id, "focus_active": {}}
    response = gov.client("PUT", f"/rooms/{room_id}/state/{CALL_MEMBER}/_{alice.user_id}_{alice.device_id}",
                          alice, member)
    assert response.status_code == 200, response.text


def test_a_unit_that_switches_calls_off_gets_no_relay_no_openid_and_no_call_membership(gov: Gov) -> None:
    ministry = gov.unit("MOD")
    quiet = gov.unit("MOD-SEC", parent=ministry, calls_enabled=False)
    alice = gov.official("alice", quiet)
    bob = gov.official("bob", ministry)
    assert gov.client("GET", "/voip/turnServer", bob).status_code == 200
    refused = gov.client("GET", "/voip/turnServer", alice)
    assert refused.status_code == 403 and refused.json() == {
        "errcode": "M_FORBIDDEN", "error": "Your unit's policy does not allow calls"}
    assert gov.client("POST", f"/user/{bob.user_id}/openid/request_token", bob, {}).status_code == 200
    openid = gov.client("POST", f"/user/{alice.user_id}/openid/request_token", alice, {})
    assert openid.status_code == 403 and openid.json()["error"] == "Your unit's policy does not allow calls"

    room_id = gov.client("POST", "/createRoom", alice, {}).json()["room_id"]
    key = f"_{alice.user_id}_{alice.device_id}"
    member = {"application": "m.call", "call_id": "", "device_id": alice.device_id, "focus_active": {}}
    response = gov.client("PUT", f"/rooms/{room_id}/state/{CALL_MEMBER}/{key}", alice, member)
    assert response.status_code == 403 and "does not allow calls" in response.json()["error"]
    # Leaving (empty content) is never refused.
    assert gov.client("PUT", f"/rooms/{room_id}/state/{CALL_MEMBER}/{key}", alice, {}).status_code == 200

    # A child may not loosen what its parent switched off.
    below = gov.call("PUT", f"/units/{gov.unit('MOD-SEC-1', parent=quiet)}/policy", {"calls_enabled": True})
    assert below.status_code == 403, below.text
