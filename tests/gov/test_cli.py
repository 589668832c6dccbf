"""`qasid admin …` government commands against the database of a running server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import vodozemac

from tests.api.e2ee_helpers import signed_part
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

    result = _cli(gov, "official", "offboard", "--yes", gina["user_id"])
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
    imported = gov.server.run_cli("official", "import", str(csv_file))
    assert imported.returncode == 1  # rows were refused; the good one is still created
    report = json.loads(imported.stdout)
    assert [len(report[k]) for k in ("created", "skipped", "refused")] == [1, 0, 2]


def test_server_keeps_writing_device_changes_after_a_cli_offboarding(gov: Gov) -> None:
    """The CLI's own writes take stream positions the running server must not hand out again."""
    unit = gov.unit("MOP")
    alice = gov.official("alice", unit)
    bob = gov.official("bob", unit)
    carol = gov.official("carol", unit)
    room = gov.client("POST", "/createRoom", alice, {"invite": [carol.user_id]}).json()["room_id"]
    assert gov.client("POST", f"/join/{room}", carol).status_code == 200
    since = gov.client("GET", "/sync?timeout=0", alice).json()["next_batch"]
    # A device-list change made by the running server first, so it holds a position in memory.
    assert gov.client("POST", "/keys/upload", carol, {"device_keys": _device_keys(carol)}).status_code == 200

    _cli(gov, "official", "offboard", "--yes", bob.user_id)  # the CLI records bob's device-list change itself

    second = gov.login("carol")
    uploaded = gov.client("POST", "/keys/upload", second, {"device_keys": _device_keys(second)})
    assert uploaded.status_code == 200, uploaded.text
    changed = gov.client("GET", f"/sync?timeout=0&since={since}", alice).json()["device_lists"]["changed"]
    assert carol.user_id in changed


def _device_keys(session: Any) -> dict[str, Any]:
    """Real, self-signed device keys (the server checks the signature)."""
    account = vodozemac.Account()
    user_id, device_id = session.user_id, session.device_id
    keys = {"user_id": user_id, "device_id": device_id, "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": {f"curve25519:{device_id}": account.curve25519_key.to_base64(),
                     f"ed25519:{device_id}": account.ed25519_key.to_base64()}}
    signature = account.sign(signed_part(keys)).to_base64()
    return {**keys, "signatures": {user_id: {f"ed25519:{device_id}": signature}}}


def test_cli_sets_passwords_lists_states_and_filters_the_audit_log_by_unit_code(gov: Gov, tmp_path: Path) -> None:
    unit = gov.unit("MOW")
    gov.unit("MOW-X", parent=unit)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("unit,username,display name,designation\nMOW,wafa,Wafa,Clerk\nMOW,omar,Omar,Clerk\n"
                        "MOW-X,xena,Xena,Clerk\n", encoding="utf-8")
    report = _cli(gov, "official", "import", str(csv_file))  # the header row is not an official
    assert [len(report[k]) for k in ("created", "refused")] == [3, 0]  # type: ignore[index]

    changed = gov.server.run_cli("official", "set-password", "@wafa:qasid.test", stdin="Wafa-pass-2024\n")
    assert changed.returncode == 0, changed.stderr
    assert gov.login("wafa", "Wafa-pass-2024").user_id == "@wafa:qasid.test"
    _cli(gov, "official", "suspend", "@omar:qasid.test")
    _cli(gov, "official", "offboard", "--yes", "@xena:qasid.test")

    states = {o["user_id"]: o["state"] for o in _cli(gov, "official", "list", "--json")}  # type: ignore[union-attr]
    assert states == {"@wafa:qasid.test": "active", "@omar:qasid.test": "suspended", "@xena:qasid.test": "offboarded"}
    table = gov.server.cli("official", "list", "--unit", "MOW").splitlines()
    assert table[0].split() == ["user_id", "unit_id", "designation", "state", "clearance"]
    assert [line.split()[0] for line in table[1:]] == ["@omar:qasid.test", "@wafa:qasid.test"]
    assert table[1].split()[-2:] == ["suspended", "Unrestricted"]
    assert "MOW-X" in gov.server.cli("unit", "list") and _cli(gov, "unit", "list", "--json")[1]["code"] == "MOW-X"  # type: ignore[index]

    under = [json.loads(line) for line in gov.server.cli("audit", "list", "--json", "--unit", "MOW-X").splitlines()]
    assert under and {e["unit_id"] for e in under} == {report["created"][2]["unit_id"]}  # type: ignore[index]
    by_actor = gov.server.cli("audit", "list", "--json", "--actor", "root", "--action", "unit.create").splitlines()
    assert [json.loads(line)["target"] for line in by_actor] == ["MOW", "MOW-X"]


def test_cli_import_exits_non_zero_on_a_refused_row_and_all_or_nothing_creates_none(gov: Gov, tmp_path: Path) -> None:
    gov.unit("MOV")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("MOV,vera,Vera,Clerk\nNOPE,ghost,Ghost,Nobody\n", encoding="utf-8")
    withheld = gov.server.run_cli("official", "import", "--all-or-nothing", str(csv_file))
    assert withheld.returncode == 1
    report = json.loads(withheld.stdout)
    assert (report["created"], [r["line"] for r in report["refused"]]) == ([], [2])
    assert [w["user_id"] for w in report["withheld"]] == ["@vera:qasid.test"]
    assert gov.call("GET", "/officials/@vera:qasid.test").status_code == 404
    partial = gov.server.run_cli("official", "import", str(csv_file))
    assert partial.returncode == 1 and [c["user_id"] for c in json.loads(partial.stdout)["created"]] == [
        "@vera:qasid.test"]
