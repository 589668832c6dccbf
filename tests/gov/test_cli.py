"""`qasid admin …` government commands against the database of a running server."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.gov.helpers import Gov


def _cli(gov: Gov, *args: str) -> object:
    return json.loads(gov.server.cli(*args))


def test_cli_enrolls_suspends_and_offboards_with_a_live_server(gov: Gov, tmp_path: Path) -> None:
    ministry = _cli(gov, "unit", "create", "--code", "MOC", "--name", "Ministry of Culture")
    division = _cli(gov, "unit", "create", "--code", "MOC-ARTS", "--name", "Arts", "--parent", "MOC")
    assert division["parent_id"] == ministry["unit_id"]  # type: ignore[index]
    _cli(gov, "policy", "set", "--unit", "MOC", "invite_scope=ministry", "retention_days=30")
    shown = _cli(gov, "policy", "show", "--unit", "MOC-ARTS")
    assert shown["effective"]["invite_scope"] == "ministry"  # type: ignore[index]
    token = _cli(gov, "enroll", "create", "--unit", "MOC-ARTS", "--designation", "Curator")["token"]  # type: ignore[index]
    response = gov.register("gina", token)
    assert response.status_code == 200, response.text
    gina = response.json()
    auth = {"authorization": f"Bearer {gina['access_token']}"}
    helper = gov.official("helper", division["unit_id"])  # type: ignore[index]
    room = gov.client("POST", "/createRoom", helper, {"invite": [gina["user_id"]]}).json()["room_id"]
    assert gov.http.post(f"/_matrix/client/v3/join/{room}", headers=auth).status_code == 200
    assert _cli(gov, "official", "show", gina["user_id"])["designation"] == "Curator"  # type: ignore[index]

    _cli(gov, "official", "suspend", gina["user_id"])
    locked = gov.http.get("/_matrix/client/v3/account/whoami", headers=auth)
    assert locked.status_code == 401 and locked.json()["errcode"] == "M_USER_LOCKED"
    _cli(gov, "official", "unsuspend", gina["user_id"])
    assert gov.http.get("/_matrix/client/v3/account/whoami", headers=auth).status_code == 200

    result = _cli(gov, "official", "offboard", gina["user_id"])
    assert result["rooms_pending"] is True  # type: ignore[index]
    gone = gov.http.get("/_matrix/client/v3/account/whoami", headers=auth)
    assert gone.status_code == 401 and gone.json()["errcode"] == "M_UNKNOWN_TOKEN"
    deadline = time.monotonic() + 20
    while True:  # the server's maintenance loop performs the room leaves
        member = gov.client("GET", f"/rooms/{room}/state/m.room.member/{gina['user_id']}", helper).json()
        if member.get("membership") == "leave":
            break
        assert time.monotonic() < deadline, member
        time.sleep(0.5)

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("MOC,ivan,Ivan,Clerk\nMOC,ivan,Ivan,Clerk\nNOPE,x,X,Y\n", encoding="utf-8")
    report = _cli(gov, "official", "import", str(csv_file))
    assert [len(report[k]) for k in ("created", "skipped", "refused")] == [1, 0, 2]  # type: ignore[index]
