"""Reports of events, rooms and users: who may file them, and which admins read them (API and CLI)."""

from __future__ import annotations

import json

from tests.gov.helpers import Gov, Session


def _room_with(gov: Gov, owner: Session, *members: Session) -> str:
    room = gov.client("POST", "/createRoom", owner, {"invite": [m.user_id for m in members]}).json()["room_id"]
    for member in members:
        assert gov.client("POST", f"/join/{room}", member).status_code == 200
    return room


def _send(gov: Gov, session: Session, room: str, body: str, txn: str) -> str:
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.message/{txn}", session, {"msgtype": "m.text", "body": body})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["event_id"])


def _world(gov: Gov) -> dict[str, object]:
    ministry_a = gov.unit("MOA", encryption_required=False)
    ministry_b = gov.unit("MOB", encryption_required=False)
    alice = gov.official("alice", ministry_a)
    bob = gov.official("bob", ministry_a)
    admin_a = gov.official("admina", ministry_a)
    admin_b = gov.official("adminb", ministry_b)
    gov.ok("PUT", f"/units/{ministry_a}/admins/{admin_a.user_id}", {"admin": True})
    gov.ok("PUT", f"/units/{ministry_b}/admins/{admin_b.user_id}", {"admin": True})
    return {"a": ministry_a, "b": ministry_b, "alice": alice, "bob": bob, "admin_a": admin_a, "admin_b": admin_b}


def test_an_event_report_reaches_the_senders_unit_admins_and_national_admins(gov: Gov) -> None:
    w = _world(gov)
    alice, bob, admin_a, admin_b = w["alice"], w["bob"], w["admin_a"], w["admin_b"]
    assert isinstance(alice, Session) and isinstance(bob, Session)
    assert isinstance(admin_a, Session) and isinstance(admin_b, Session)
    room = _room_with(gov, alice, bob)
    event_id = _send(gov, alice, room, "the secret plan", "t1")

    reported = gov.client("POST", f"/rooms/{room}/report/{event_id}", bob, {"reason": "quotes: the secret plan",
                                                                             "score": -50})
    assert reported.status_code == 200 and reported.json() == {}, reported.text

    listed = gov.ok("GET", "/reports", as_=admin_a)["reports"]
    assert len(listed) == 1
    report = listed[0]
    assert report["kind"] == "event" and report["reporter"] == bob.user_id
    assert report["reported_user"] == alice.user_id and report["event_id"] == event_id
    assert report["room_id"] == room and report["unit_id"] == w["a"] and report["score"] == -50
    assert report["reason"] == "quotes: the secret plan" and report["resolved_ts"] is None
    assert gov.ok("GET", "/reports")["reports"] == listed  # the national admin
    assert gov.ok("GET", "/reports", as_=admin_b)["reports"] == []  # another ministry's admin
    assert gov.call("GET", f"/reports/{report['report_id']}", as_=admin_b).status_code == 404
    assert gov.call("POST", f"/reports/{report['report_id']}/resolve", {}, as_=admin_b).status_code == 404
    assert gov.call("GET", "/reports", as_=bob).status_code == 403  # not an admin

    shown = gov.ok("GET", f"/reports/{report['report_id']}", as_=admin_a)
    assert shown["event"] == {"type": "m.room.message", "sender": alice.user_id,
                              "origin_server_ts": shown["event"]["origin_server_ts"], "redacted": False}
    assert "the secret plan" not in json.dumps(shown["event"])

    # The audit entry: metadata and the reason's length, never the reason nor the message.
    entries = gov.ok("GET", "/audit?action=report.event", as_=admin_a)["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == bob.user_id and entry["target"] == alice.user_id and entry["unit_id"] == w["a"]
    assert entry["details"] == {"report_id": report["report_id"], "reason_chars": len("quotes: the secret plan"),
                                "room_id": room, "event_id": event_id, "score": -50}
    assert "secret" not in json.dumps(gov.ok("GET", "/audit")["entries"])

    resolved = gov.ok("POST", f"/reports/{report['report_id']}/resolve", {}, as_=admin_a)
    assert resolved["resolved_by"] == admin_a.user_id and resolved["resolved_ts"] > 0
    assert gov.call("POST", f"/reports/{report['report_id']}/resolve", {}, as_=admin_a).status_code == 400
    assert gov.ok("GET", "/reports?state=open", as_=admin_a)["reports"] == []
    assert [r["report_id"] for r in gov.ok("GET", "/reports?state=resolved")["reports"]] == [report["report_id"]]
    assert gov.ok("GET", "/audit?action=report.resolve")["entries"][0]["actor"] == admin_a.user_id
    assert gov.call("GET", "/reports?state=maybe").status_code == 400
    assert gov.call("GET", "/reports/abc").status_code == 400


def test_room_and_user_reports_are_filed_under_the_creators_and_users_units(gov: Gov) -> None:
    w = _world(gov)
    alice, bob, admin_a, admin_b = w["alice"], w["bob"], w["admin_a"], w["admin_b"]
    assert isinstance(alice, Session) and isinstance(bob, Session)
    assert isinstance(admin_a, Session) and isinstance(admin_b, Session)
    carol = gov.official("carol", int(w["b"]))  # type: ignore[call-overload]
    # Carol (ministry B) invites Bob to a spam room: Bob reports the room from the invite.
    spam = gov.client("POST", "/createRoom", carol, {"invite": [bob.user_id]}).json()["room_id"]
    assert gov.client("POST", f"/rooms/{spam}/report", bob, {"reason": "spam invite"}).status_code == 200
    assert gov.client("POST", f"/users/{carol.user_id}/report", bob, {"reason": ""}).status_code == 200
    kinds = {(r["kind"], r["reported_user"], r["unit_id"]) for r in gov.ok("GET", "/reports", as_=admin_b)["reports"]}
    assert kinds == {("room", carol.user_id, w["b"]), ("user", carol.user_id, w["b"])}
    assert gov.ok("GET", "/reports", as_=admin_a)["reports"] == []
    # A unit admin doesn't read reports about themselves.
    assert gov.client("POST", f"/users/{admin_b.user_id}/report", bob, {"reason": "x"}).status_code == 200
    assert len(gov.ok("GET", "/reports", as_=admin_b)["reports"]) == 2
    assert len(gov.ok("GET", "/reports")["reports"]) == 3


def test_reports_answer_404_for_what_the_reporter_cannot_see(gov: Gov) -> None:
    w = _world(gov)
    alice, bob = w["alice"], w["bob"]
    assert isinstance(alice, Session) and isinstance(bob, Session)
    leaver = gov.official("leaver", int(w["a"]))  # type: ignore[call-overload]
    banned = gov.official("banned", int(w["a"]))  # type: ignore[call-overload]
    outsider = gov.official("outsider", int(w["a"]))  # type: ignore[call-overload]
    room = _room_with(gov, alice, bob, leaver, banned)
    before = _send(gov, alice, room, "said while all were in", "t1")
    assert gov.client("POST", f"/rooms/{room}/leave", leaver, {}).status_code == 200
    assert gov.client("POST", f"/rooms/{room}/ban", alice, {"user_id": banned.user_id}).status_code == 200
    after = _send(gov, alice, room, "said after", "t2")

    def status(session: Session, path: str, body: dict[str, object]) -> tuple[int, str]:
        response = gov.client("POST", path, session, body)
        return response.status_code, response.json().get("errcode", "")

    missing_event = status(bob, f"/rooms/{room}/report/$nope", {})
    missing_room = status(bob, "/rooms/!nope:qasid.test/report", {"reason": ""})
    assert missing_event == (404, "M_NOT_FOUND") and missing_room == (404, "M_NOT_FOUND")
    for who in (leaver, banned, outsider):
        for event_id in (before, after):
            assert status(who, f"/rooms/{room}/report/{event_id}", {}) == missing_event
        assert status(who, f"/rooms/{room}/report", {"reason": ""}) == missing_room
    assert status(bob, f"/rooms/{room}/report/{after}", {}) == (200, "")
    assert status(bob, "/users/@nobody:qasid.test/report", {"reason": ""}) == (404, "M_NOT_FOUND")
    assert status(bob, f"/users/{bob.user_id}/report", {"reason": ""}) == (400, "M_INVALID_PARAM")
    assert status(bob, f"/rooms/{room}/report", {}) == (400, "M_MISSING_PARAM")
    assert status(bob, f"/rooms/{room}/report/{after}", {"score": 5}) == (400, "M_INVALID_PARAM")
    assert status(bob, f"/rooms/{room}/report/{after}", {"reason": "x" * 1001}) == (400, "M_INVALID_PARAM")
    assert [r["event_id"] for r in gov.ok("GET", "/reports")["reports"]] == [after]


def test_a_user_outside_the_directory_scope_is_unknown_to_a_report(gov: Gov) -> None:
    closed = gov.unit("MOC", directory_scope="unit", encryption_required=False)
    other = gov.unit("MOD", encryption_required=False)
    dave = gov.official("dave", closed)
    erin = gov.official("erin", other)
    unknown = gov.client("POST", "/users/@nobody:qasid.test/report", dave, {"reason": ""})
    hidden = gov.client("POST", f"/users/{erin.user_id}/report", dave, {"reason": ""})
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json() | {"error": hidden.json()["error"]}
    assert gov.client("POST", f"/users/{dave.user_id}/report", erin, {"reason": ""}).status_code == 200


def test_the_cli_lists_shows_and_resolves_reports(gov: Gov) -> None:
    w = _world(gov)
    alice, bob = w["alice"], w["bob"]
    assert isinstance(alice, Session) and isinstance(bob, Session)
    assert gov.client("POST", f"/users/{alice.user_id}/report", bob, {"reason": "rude"}).status_code == 200
    table = gov.server.cli("report", "list")
    assert "rude" in table and alice.user_id in table
    listed = json.loads(gov.server.cli("report", "list", "--json"))
    report_id = listed[0]["report_id"]
    shown = json.loads(gov.server.cli("report", "show", str(report_id)))
    assert shown["reported_user"] == alice.user_id and shown["kind"] == "user"
    resolved = json.loads(gov.server.cli("report", "resolve", str(report_id)))
    assert resolved["resolved_by"] == "operator"
    assert "(none)" in gov.server.cli("report", "list")
    again = gov.server.run_cli("report", "resolve", str(report_id))
    assert again.returncode == 1 and "already resolved" in again.stderr
    assert gov.server.run_cli("report", "show", "999").returncode == 1
    assert gov.ok("GET", "/audit?action=report.resolve")["entries"][0]["actor"] == "operator"
