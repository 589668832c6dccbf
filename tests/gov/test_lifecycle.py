"""Offboarding, suspension and admin device control, against the real server."""

from __future__ import annotations

import time

from tests.gov.helpers import PASSWORD, Gov


def _device_ids_seen_by(gov: Gov, viewer: object, user_id: str) -> set[str]:
    response = gov.client("POST", "/keys/query", viewer, {"device_keys": {user_id: []}})  # type: ignore[arg-type]
    return set(response.json()["device_keys"].get(user_id, {}))


def _upload_keys(gov: Gov, session: object, user_id: str, device_id: str) -> None:
    keys = {"user_id": user_id, "device_id": device_id, "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": {f"curve25519:{device_id}": "c" * 43, f"ed25519:{device_id}": "e" * 43},
            "signatures": {user_id: {f"ed25519:{device_id}": "s" * 86}}}
    r = gov.client("POST", "/keys/upload", session, {"device_keys": keys})  # type: ignore[arg-type]
    assert r.status_code in (200, 400), r.text


def test_offboarding_cuts_everything_at_once(gov: Gov) -> None:
    unit = gov.unit("MOI")
    alice = gov.official("alice", unit)
    bob = gov.official("bob", unit)
    rooms = []
    for _ in range(2):
        room = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]}).json()["room_id"]
        assert gov.client("POST", f"/join/{room}", bob).status_code == 200
        rooms.append(room)
    invited_only = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]}).json()["room_id"]
    devices_before = gov.ok("GET", f"/officials/{bob.user_id}/devices")["devices"]
    assert [d["device_id"] for d in devices_before] == [bob.device_id]
    assert devices_before[0]["last_seen_ts"] > 0

    result = gov.ok("POST", f"/officials/{bob.user_id}/offboard")
    assert result["rooms_left"] == 3 and result["devices_deleted"] == 1

    whoami = gov.client("GET", "/account/whoami", bob)
    assert whoami.status_code == 401 and whoami.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert _device_ids_seen_by(gov, alice, bob.user_id) == set()
    for room in [*rooms, invited_only]:
        member = gov.client("GET", f"/rooms/{room}/state/m.room.member/{bob.user_id}", alice).json()
        assert member["membership"] == "leave", member
    login = gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}, "password": PASSWORD})
    assert login.status_code == 403
    found = gov.client("POST", "/user_directory/search", alice, {"search_term": "bob"}).json()["results"]
    assert found == []
    again = gov.call("POST", f"/officials/{bob.user_id}/offboard")
    assert again.status_code == 400


def test_suspension_locks_every_request_but_logout_and_is_lifted(gov: Gov) -> None:
    unit = gov.unit("MOD")
    carol = gov.official("carol", unit)
    second = gov.login("carol")
    gov.ok("POST", f"/officials/{carol.user_id}/suspend")
    for path in ("/account/whoami", "/sync?timeout=0"):
        r = gov.client("GET", path, carol)
        assert r.status_code == 401 and r.json()["errcode"] == "M_USER_LOCKED", r.text
    login = gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "carol"}, "password": PASSWORD})
    assert login.status_code == 401 and login.json()["errcode"] == "M_USER_LOCKED"
    assert gov.client("POST", "/logout", second).status_code == 200
    assert gov.ok("GET", f"/officials/{carol.user_id}")["locked"] is True
    gov.ok("POST", f"/officials/{carol.user_id}/unsuspend")
    assert gov.client("GET", "/account/whoami", carol).json()["user_id"] == carol.user_id
    assert gov.client("GET", "/account/whoami", second).status_code == 401  # logged out stays logged out


def test_admin_signs_out_one_device_and_stale_devices_expire(gov: Gov) -> None:
    unit = gov.unit("MOJ")
    dan = gov.official("dan", unit)
    laptop = gov.login("dan", device_id="LAPTOP")
    watcher = gov.official("watcher", unit)
    room = gov.client("POST", "/createRoom", dan, {"invite": [watcher.user_id]}).json()["room_id"]
    gov.client("POST", f"/join/{room}", watcher)
    _upload_keys(gov, laptop, dan.user_id, "LAPTOP")
    gov.ok("DELETE", f"/officials/{dan.user_id}/devices/LAPTOP")
    assert gov.client("GET", "/account/whoami", laptop).status_code == 401
    assert gov.client("GET", "/account/whoami", dan).status_code == 200
    assert "LAPTOP" not in _device_ids_seen_by(gov, watcher, dan.user_id)
    assert gov.call("DELETE", f"/officials/{dan.user_id}/devices/LAPTOP").status_code == 404
    # Devices unused past the unit's limit go on the next maintenance run.
    gov.ok("PUT", f"/units/{unit}/policy", {"device_inactive_days": 1 / 86400})
    time.sleep(1.5)
    assert gov.ok("POST", "/maintenance/run")["devices_removed"] >= 2
    assert gov.client("GET", "/account/whoami", dan).status_code == 401


def test_device_removals_by_an_admin_name_the_admin_in_the_audit_log(gov: Gov) -> None:
    unit = gov.unit("MOW")
    dave = gov.official("dave", unit)
    phone = gov.login("dave", device_id="PHONE")
    gov.ok("DELETE", f"/officials/{dave.user_id}/devices/{phone.device_id}")
    gov.ok("POST", f"/officials/{dave.user_id}/offboard")
    removed = [e for e in gov.ok("GET", "/audit")["entries"]
               if e["action"] == "device.removed" and e["target"] == dave.user_id]
    assert {e["details"]["device_id"] for e in removed} == {phone.device_id, dave.device_id}
    assert {e["actor"] for e in removed} == {gov.root.user_id}, removed
    assert {e["details"]["reason"] for e in removed} == {"signed_out_by_admin", "offboarded"}
