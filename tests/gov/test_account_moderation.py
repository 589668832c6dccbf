"""The spec's server administration (v1.18) from a Matrix client: lock and suspend, against the real server.

Lock is qasid's suspension (every request 401 M_USER_LOCKED); suspend is qasid's read-only state
(reads allowed, writes 403 M_USER_SUSPENDED). National admins only, audited like the admin API.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.gov.helpers import PASSWORD, Gov, Session

C1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"
# Rooms of officials are encrypted by policy: what clients send there.
CIPHER = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x", "session_id": "s", "sender_key": "k",
          "device_id": "D"}


def admin_call(gov: Gov, method: str, kind: str, user_id: str, session: Session, body: Any = None) -> httpx.Response:
    return gov.http.request(method, f"{C1}/admin/{kind}/{user_id}", json=body, headers=session.auth)


def assert_error(response: httpx.Response, status: int, errcode: str) -> None:
    assert (response.status_code, response.json().get("errcode")) == (status, errcode), response.text


def audit_actions(gov: Gov, target: str) -> list[tuple[str, str]]:
    return [(e["action"], e["actor"]) for e in gov.ok("GET", "/audit")["entries"] if e["target"] == target]


def test_only_national_admins_may_lock_or_suspend_and_nothing_is_looked_up_first(gov: Gov) -> None:
    unit = gov.unit("MOI")
    unit_admin = gov.official("uadmin", unit)
    gov.ok("PUT", f"/units/{unit}/admins/{unit_admin.user_id}", {"admin": True})
    bob = gov.official("bob", unit)
    server = gov.server.server_name
    for caller in (unit_admin, bob):
        for kind, field in (("lock", "locked"), ("suspend", "suspended")):
            # The same refusal for a real account, an unknown one, a remote one and garbage: no oracle.
            for target in (bob.user_id, f"@ghost:{server}", "@x:elsewhere.example", "not-a-user"):
                assert_error(admin_call(gov, "GET", kind, target, caller), 403, "M_FORBIDDEN")
                assert_error(admin_call(gov, "PUT", kind, target, caller, {field: True}), 403, "M_FORBIDDEN")
    unit_admins = gov.client("GET", "/capabilities", unit_admin).json()["capabilities"]
    assert "m.account_moderation" not in unit_admins
    assert unit_admins["m.forget_forced_upon_leave"] == {"enabled": False}
    assert gov.client("GET", "/capabilities", gov.root).json()["capabilities"]["m.account_moderation"] == {
        "lock": True, "suspend": True}
    assert gov.client("GET", "/account/whoami", bob).status_code == 200  # untouched
    assert not any(a.startswith("account.") for a, _ in audit_actions(gov, bob.user_id))


def test_lock_is_qasids_suspension_and_is_audited(gov: Gov) -> None:
    unit = gov.unit("MOF")
    bob = gov.official("bob", unit)
    assert admin_call(gov, "GET", "lock", bob.user_id, gov.root).json() == {"locked": False}
    locked = admin_call(gov, "PUT", "lock", bob.user_id, gov.root, {"locked": True})
    assert (locked.status_code, locked.json()) == (200, {"locked": True}), locked.text
    assert admin_call(gov, "GET", "lock", bob.user_id, gov.root).json() == {"locked": True}
    whoami = gov.client("GET", "/account/whoami", bob)
    assert whoami.status_code == 401 and whoami.json()["errcode"] == "M_USER_LOCKED", whoami.text
    assert whoami.json()["soft_logout"] is True  # the spec: clients keep their session and keys
    # The admin API shows the same state: one lock, two ways to set it.
    assert gov.ok("GET", f"/officials/{bob.user_id}")["locked"] is True
    assert admin_call(gov, "PUT", "lock", bob.user_id, gov.root, {"locked": False}).json() == {"locked": False}
    assert gov.client("GET", "/account/whoami", bob).status_code == 200
    recorded = audit_actions(gov, bob.user_id)
    assert ("account.suspend", gov.root.user_id) in recorded and ("account.unsuspend", gov.root.user_id) in recorded


def test_what_the_spec_refuses_a_national_admin(gov: Gov) -> None:
    unit = gov.unit("MOD")
    bob = gov.official("bob", unit)
    gov.server.create_user("root2", PASSWORD, admin=True)
    server = gov.server.server_name
    for kind, field in (("lock", "locked"), ("suspend", "suspended")):
        assert_error(admin_call(gov, "GET", kind, f"@root2:{server}", gov.root), 403, "M_FORBIDDEN")
        assert_error(admin_call(gov, "PUT", kind, gov.root.user_id, gov.root, {field: True}), 403, "M_FORBIDDEN")
        assert_error(admin_call(gov, "GET", kind, f"@ghost:{server}", gov.root), 404, "M_NOT_FOUND")
        assert_error(admin_call(gov, "GET", kind, "@bob:elsewhere.example", gov.root), 400, "M_INVALID_PARAM")
        assert_error(admin_call(gov, "GET", kind, "not-a-user", gov.root), 400, "M_INVALID_PARAM")
        assert_error(admin_call(gov, "PUT", kind, bob.user_id, gov.root, {}), 400, "M_MISSING_PARAM")
        assert_error(admin_call(gov, "PUT", kind, bob.user_id, gov.root, {field: "yes"}), 400, "M_BAD_JSON")
        assert_error(admin_call(gov, "PUT", kind, bob.user_id, gov.root, [field]), 400, "M_BAD_JSON")
    assert gov.client("GET", "/account/whoami", bob).status_code == 200
    assert gov.ok("GET", f"/officials/{bob.user_id}")["locked"] is False
    gov.ok("POST", f"/officials/{bob.user_id}/offboard")
    for kind in ("lock", "suspend"):
        assert_error(admin_call(gov, "GET", kind, bob.user_id, gov.root), 404, "M_NOT_FOUND")


def test_a_suspended_official_reads_but_does_not_write(gov: Gov) -> None:
    unit = gov.unit("MOE")
    alice, bob, carol = (gov.official(name, unit) for name in ("alice", "bob", "carol"))
    room = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]}).json()["room_id"]
    assert gov.client("POST", f"/join/{room}", bob).status_code == 200
    own = gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/b1", bob, CIPHER)
    theirs = gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/a1", alice, CIPHER)
    assert own.status_code == theirs.status_code == 200, (own.text, theirs.text)
    pending = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]}).json()["room_id"]
    other = gov.client("POST", "/createRoom", alice, {"invite": [bob.user_id]}).json()["room_id"]

    suspended = admin_call(gov, "PUT", "suspend", bob.user_id, gov.root, {"suspended": True})
    assert (suspended.status_code, suspended.json()) == (200, {"suspended": True}), suspended.text
    assert admin_call(gov, "GET", "suspend", bob.user_id, gov.root).json() == {"suspended": True}
    assert admin_call(gov, "GET", "lock", bob.user_id, gov.root).json() == {"locked": False}

    # Reading still works, and signing in again.
    assert gov.client("GET", "/account/whoami", bob).status_code == 200
    assert gov.client("GET", "/sync", bob).status_code == 200
    history = gov.client("GET", f"/rooms/{room}/messages?dir=b", bob)
    assert history.status_code == 200 and any(e["event_id"] == theirs.json()["event_id"]
                                               for e in history.json()["chunk"])
    again = gov.login("bob")
    # Every write is refused with the spec's code, and changes nothing.
    refused = [
        gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/b2", again, {**CIPHER, "ciphertext": "no"}),
        gov.client("PUT", f"/rooms/{room}/state/m.room.topic", bob, {"topic": "no"}),
        gov.client("POST", "/createRoom", bob, {}),
        gov.client("POST", f"/join/{pending}", bob),
        gov.client("POST", f"/rooms/{room}/invite", bob, {"user_id": carol.user_id}),
        gov.client("PUT", f"/profile/{bob.user_id}/displayname", bob, {"displayname": "no"}),
        gov.client("PUT", f"/rooms/{room}/redact/{theirs.json()['event_id']}/r1", bob, {}),
        gov.client("PUT", f"/rooms/{room}/send/m.room.redaction/r2", bob, {"redacts": theirs.json()["event_id"]}),
        gov.client("POST", f"/rooms/{room}/kick", bob, {"user_id": alice.user_id}),
        gov.http.post("/_matrix/media/v3/upload", content=b"x", headers={**bob.auth, "content-type": "text/plain"}),
    ]
    for response in refused:
        assert_error(response, 403, "M_USER_SUSPENDED")
    sent = [(e["type"], e["content"].get("ciphertext"), e["content"].get("topic")) for e in
            gov.client("GET", f"/rooms/{room}/messages?dir=b", alice).json()["chunk"]]
    assert not [e for e in sent if "no" in e] and not [e for e in sent if e[0] == "m.room.redaction"], sent
    assert gov.client("GET", f"/rooms/{room}/state/m.room.member/{carol.user_id}", alice).status_code == 404
    # What the spec leaves them: redacting their own events, leaving, refusing an invitation.
    assert gov.client("PUT", f"/rooms/{room}/redact/{own.json()['event_id']}/r3", bob, {}).status_code == 200
    assert gov.client("POST", f"/rooms/{pending}/leave", bob, {}).status_code == 200
    assert gov.client("PUT", f"/rooms/{other}/state/m.room.member/{bob.user_id}", bob,
                      {"membership": "leave"}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/leave", bob, {}).status_code == 200

    lifted = admin_call(gov, "PUT", "suspend", bob.user_id, gov.root, {"suspended": False})
    assert lifted.json() == {"suspended": False}
    assert gov.client("POST", "/createRoom", bob, {}).status_code == 200
    actions = [a for a, actor in audit_actions(gov, bob.user_id) if actor == gov.root.user_id]
    assert "account.read_only" in actions and "account.read_only_lifted" in actions, actions


def test_a_unit_admin_sets_read_only_through_the_admin_api_and_the_cli_shows_it(gov: Gov) -> None:
    unit = gov.unit("MOH")
    unit_admin = gov.official("uadmin", unit)
    gov.ok("PUT", f"/units/{unit}/admins/{unit_admin.user_id}", {"admin": True})
    bob = gov.official("bob", unit)
    gov.ok("PUT", f"/officials/{bob.user_id}/read_only", {"read_only": True}, as_=unit_admin)
    assert gov.ok("GET", f"/officials/{bob.user_id}")["read_only"] is True
    assert_error(gov.client("POST", "/createRoom", bob, {}), 403, "M_USER_SUSPENDED")
    assert admin_call(gov, "GET", "suspend", bob.user_id, gov.root).json() == {"suspended": True}
    for body, errcode in (({}, "M_BAD_JSON"), ({"read_only": "yes"}, "M_BAD_JSON")):
        assert_error(gov.call("PUT", f"/officials/{bob.user_id}/read_only", body), 400, errcode)
    # The command line lifts it on the running server's data.
    gov.server.cli("official", "read-only", bob.user_id, "--lift")
    assert gov.ok("GET", f"/officials/{bob.user_id}")["read_only"] is False
    assert gov.client("POST", "/createRoom", bob, {}).status_code == 200
    assert ("account.read_only", unit_admin.user_id) in audit_actions(gov, bob.user_id)


def test_delayed_events_scheduled_before_a_suspension(gov: Gov) -> None:
    """Only a call membership's clean-up still fires; anything else is cancelled, as the request would be now."""
    bob = gov.official("bob", gov.unit("MOT"))
    room = gov.client("POST", "/createRoom", bob, {}).json()["room_id"]
    delay = {"org.matrix.msc4140.delay": 1500}
    member = "org.matrix.msc3401.call.member"
    for path, content in ((f"/rooms/{room}/state/m.room.topic", {"topic": "later"}),
                          (f"/rooms/{room}/state/{member}/_{bob.user_id}_D", {})):
        scheduled = gov.http.put(V3 + path, params=delay, json=content, headers=bob.auth)
        assert scheduled.status_code == 200, scheduled.text
    admin_call(gov, "PUT", "suspend", bob.user_id, gov.root, {"suspended": True})
    deadline = time.monotonic() + 15
    while gov.client("GET", f"/rooms/{room}/state/{member}/_{bob.user_id}_D", bob).status_code != 200:
        assert time.monotonic() < deadline, "the call membership's clean-up never fired"
        time.sleep(0.1)
    assert gov.client("GET", f"/rooms/{room}/state/m.room.topic", bob).status_code == 404
    pending = gov.http.get("/_matrix/client/unstable/org.matrix.msc4140/delayed_events", headers=bob.auth)
    assert pending.json() == {"delayed_events": []}
