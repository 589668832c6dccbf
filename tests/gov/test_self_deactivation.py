"""An official deactivating their own account: only where their unit's policy lets them."""

from __future__ import annotations

from tests.gov.helpers import PASSWORD, Gov, Session


def _deactivate(gov: Gov, session: Session, erase: bool = False) -> tuple[int, dict[str, object]]:
    first = gov.client("POST", "/account/deactivate", session, {"erase": erase})
    if first.status_code != 401:
        return first.status_code, first.json()
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": session.user_id},
            "password": PASSWORD, "session": first.json()["session"]}
    done = gov.client("POST", "/account/deactivate", session, {"erase": erase, "auth": auth})
    return done.status_code, done.json()


def test_by_default_an_official_is_told_to_ask_their_units_admin(gov: Gov) -> None:
    unit = gov.unit("MOF", "Ministry of Finance")
    frank = gov.official("frank", unit)
    status, body = _deactivate(gov, frank)
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"
    assert "admin of Ministry of Finance (MOF)" in str(body["error"])
    assert gov.client("GET", "/account/whoami", frank).status_code == 200
    assert gov.ok("GET", "/audit?action=account.deactivate")["entries"] == []


def test_where_the_policy_allows_it_leaving_is_offboarding(gov: Gov) -> None:
    unit = gov.unit("MOG", self_deactivation=True)
    strict = gov.unit("MOG-SEC", parent=unit, self_deactivation=False)
    grace = gov.official("grace", unit)
    heidi = gov.official("heidi", unit)
    ivan = gov.official("ivan", strict)
    room = gov.client("POST", "/createRoom", heidi, {"invite": [grace.user_id]}).json()["room_id"]
    assert gov.client("POST", f"/join/{room}", grace).status_code == 200

    status, body = _deactivate(gov, grace, erase=True)
    assert status == 200, body
    assert gov.client("GET", "/account/whoami", grace).status_code == 401
    member = gov.client("GET", f"/rooms/{room}/state/m.room.member/{grace.user_id}", heidi).json()
    assert member["membership"] == "leave"
    login = gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "grace"}, "password": PASSWORD})
    assert login.status_code == 403
    described = gov.ok("GET", f"/officials/{grace.user_id}")
    assert described["deactivated"] is True
    entries = gov.ok("GET", "/audit?action=account.deactivate")["entries"]
    assert len(entries) == 1
    assert entries[0]["actor"] == grace.user_id and entries[0]["unit_id"] == unit
    assert entries[0]["details"] == {"erase": True, "devices_deleted": 1}
    # A unit below may keep it off (stricter), and then its officials stay.
    assert _deactivate(gov, ivan)[0] == 403
    # Offboarding the deactivated official again is refused as for any offboarded one.
    assert gov.call("POST", f"/officials/{grace.user_id}/offboard").status_code == 400


def test_a_child_unit_cannot_turn_it_on_below_a_parent_that_keeps_it_off(gov: Gov) -> None:
    parent = gov.unit("MOH")
    child = gov.unit("MOH-1", parent=parent)
    refused = gov.call("PUT", f"/units/{child}/policy", {"self_deactivation": True})
    assert refused.status_code in (400, 403), refused.text
    assert gov.call("PUT", f"/units/{child}/policy", {"self_deactivation": "yes"}).status_code == 400
