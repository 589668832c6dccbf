"""timestamp_to_event (visible events only) and /.well-known/matrix/support (MSC1929)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.hardening.client import error, new_user
from tests.server import ServerProcess

V1 = "/_matrix/client/v1"


def test_timestamp_to_event_finds_only_visible_events(server: ServerProcess) -> None:
    owner, leaver, outsider = new_user(server, "towner"), new_user(server, "tleaver"), new_user(server, "toutsider")
    room = owner.create_room(preset="private_chat", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}])
    assert owner.post(f"/rooms/{room}/invite", {"user_id": leaver.user_id}).status_code == 200
    leaver.join(room)
    seen = owner.send(room, "a", {"msgtype": "m.text", "body": "seen"})
    assert leaver.post(f"/rooms/{room}/leave").status_code == 200
    time.sleep(0.01)
    after_leave = int(time.time() * 1000)
    time.sleep(0.01)
    unseen = owner.send(room, "b", {"msgtype": "m.text", "body": "unseen"})
    path = f"{V1}/rooms/{room}/timestamp_to_event"

    forward = owner.get(path, ts=after_leave, dir="f")
    assert forward.status_code == 200 and forward.json()["event_id"] == unseen
    assert isinstance(forward.json()["origin_server_ts"], int)
    backward = owner.get(path, ts=after_leave, dir="b").json()["event_id"]
    assert backward != unseen
    # The leaver finds nothing after their leave, and before it no later than it.
    assert error(leaver.get(path, ts=after_leave, dir="f")) == (404, "M_NOT_FOUND")
    assert leaver.get(path, ts=after_leave, dir="b").json()["event_id"] != unseen
    assert leaver.get(path, ts=0, dir="f").status_code == 200
    # Someone never in the room: the answer of a room that doesn't exist.
    assert error(outsider.get(path, ts=0, dir="f")) == error(owner.get(f"{V1}/rooms/!nope:qasid.test/timestamp_to_event",
                                                                       ts=0, dir="f")) == (404, "M_NOT_FOUND")
    assert seen
    for params, expected in (({"ts": "1"}, "M_MISSING_PARAM"), ({"dir": "f"}, "M_MISSING_PARAM"),
                             ({"ts": "x", "dir": "f"}, "M_INVALID_PARAM"), ({"ts": "-5", "dir": "f"}, "M_INVALID_PARAM"),
                             ({"ts": "1", "dir": "sideways"}, "M_INVALID_PARAM")):
        assert error(owner.get(path, **params)) == (400, expected), params


def test_support_is_404_until_the_operator_names_contacts(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/.well-known/matrix/support", timeout=30)
    assert error(response) == (404, "M_NOT_FOUND")


def test_support_lists_the_operators_contacts(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "data", env={
        "QASID_SUPPORT_ADMIN_CONTACTS": "@ops:qasid.test, helpdesk@gov.example",
        "QASID_SUPPORT_SECURITY_CONTACTS": "cert@gov.example",
        "QASID_SUPPORT_PAGE": "https://help.gov.example/qasid",
    })
    process.start()
    try:
        response = httpx.get(process.base_url + "/.well-known/matrix/support", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "contacts": [{"matrix_id": "@ops:qasid.test", "role": "m.role.admin"},
                         {"email_address": "helpdesk@gov.example", "role": "m.role.admin"},
                         {"email_address": "cert@gov.example", "role": "m.role.security"}],
            "support_page": "https://help.gov.example/qasid",
        }
    finally:
        process.stop()
