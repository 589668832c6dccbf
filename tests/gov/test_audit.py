"""The audit log against a real server: what is recorded, tamper detection, escaping, scoped reads.

Tampering is done the way an attacker with the data folder would: python's sqlite3 on the live
database file, dropping the append-only triggers first.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from qasid.gov.audit import entry_hash
from qasid.gov.audit_text import unescape
from tests.gov.helpers import Gov
from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
PASSWORD = "correct horse battery"
HOSTILE = "mallory\n7\t2025-01-01T00:00:00.000Z\toperator\tlogin\x1b[2J\x1b]0;pwned\x07\x00\u202eevil\\x41"


def login(server: ServerProcess, user: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    return httpx.post(server.base_url + V3 + "/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
        "password": password, **extra})


def entries(server: ServerProcess, *args: str) -> list[dict[str, Any]]:
    """Every entry, through `qasid admin audit list --json`."""
    return [json.loads(line) for line in server.cli("audit", "list", "--json", *args).splitlines()]


def verify(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`qasid admin audit verify`, whatever its exit status."""
    return subprocess.run([sys.executable, "-m", "qasid.cli", "admin", "audit", "verify", *args],
                          env=server._env(), capture_output=True, text=True, timeout=60, check=False)


def tamper(server: ServerProcess, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Edit the live database file directly, as someone with file access would."""
    conn = sqlite3.connect(server.data_dir / "qasid.db")
    try:
        for sql, params in statements:
            conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def one(found: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    hits = [e for e in found if all(e.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, found)
    return hits[0]


def history(server: ServerProcess) -> None:
    """A real history: registrations, logins, failures, a new device, a logout."""
    server.register("alice")
    server.register("bob")
    assert login(server, "alice", initial_device_display_name="Laptop").status_code == 200
    assert login(server, "alice", "wrong password").status_code == 403
    assert login(server, "nobody").status_code == 403
    phone = login(server, "bob", device_id="PHONE").json()
    out = httpx.post(server.base_url + V3 + "/logout", json={},
                     headers={"Authorization": f"Bearer {phone['access_token']}"})
    assert out.status_code == 200


def test_logins_and_failed_logins_are_recorded_with_source_address(server: ServerProcess) -> None:
    alice = server.user_id("alice")
    registered = server.register("alice")
    ok = login(server, "alice", initial_device_display_name="Laptop")
    assert ok.status_code == 200
    assert login(server, "alice", "wrong password").status_code == 403
    assert login(server, "nobody", "wrong password").status_code == 403
    found = entries(server)

    entry = one(found, action="login", actor_device=ok.json()["device_id"])
    assert (entry["actor"], entry["target"], entry["source_ip"]) == (alice, alice, "127.0.0.1")
    assert entry["time"].endswith("Z") and entry["time"][19] == "." and isinstance(entry["ts"], int)
    failed = one(found, action="login.failed", target=alice)
    assert failed["source_ip"] == "127.0.0.1" and failed["details"] == {"reason": "wrong_password"}
    unknown = one(found, action="login.failed", target=server.user_id("nobody"))
    assert unknown["details"] == {"reason": "unknown_user"}
    # The token the operator issued is matched to its redemption by fingerprint, never stored whole.
    issued = one(found, action="registration_token.issued")
    redeemed = one(found, action="registration_token.redeemed", target=alice)
    assert issued["actor"] == "operator" and redeemed["source_ip"] == "127.0.0.1"
    assert issued["details"]["token"] == redeemed["details"]["token"]
    assert redeemed["details"]["token"].startswith("sha256:")
    one(found, action="device.added", actor_device=registered["device_id"])
    assert [e["seq"] for e in found] == list(range(1, len(found) + 1))


def test_devices_added_and_removed_are_recorded(server: ServerProcess) -> None:
    alice = server.user_id("alice")
    first = server.register("alice")
    login(server, "alice", device_id="PHONE", initial_device_display_name="Phone").json()
    again = login(server, "alice", device_id="PHONE").json()  # an existing device: no new entry
    headers = {"Authorization": f"Bearer {again['access_token']}"}
    assert httpx.post(server.base_url + V3 + "/logout", json={}, headers=headers).status_code == 200
    # The first device deletes a third one through user-interactive auth.
    tablet = login(server, "alice", device_id="TABLET").json()
    url = server.base_url + V3 + "/delete_devices"
    auth_headers = {"Authorization": f"Bearer {first['access_token']}"}
    session = httpx.post(url, json={"devices": ["TABLET"]}, headers=auth_headers).json()["session"]
    done = httpx.post(url, headers=auth_headers, json={"devices": ["TABLET"], "auth": {
        "type": "m.login.password", "session": session, "password": PASSWORD,
        "identifier": {"type": "m.id.user", "user": alice}}})
    assert done.status_code == 200, done.text
    found = entries(server)

    added = one(found, action="device.added", actor_device="PHONE")
    assert added["details"] == {"device_id": "PHONE", "display_name": "Phone"}
    assert added["source_ip"] == "127.0.0.1" and added["target"] == alice
    assert len([e for e in found if e["action"] == "login" and e["actor_device"] == "PHONE"]) == 2
    removed = one(found, action="device.removed", details={"device_id": "PHONE", "reason": "logout"})
    assert removed["source_ip"] == "127.0.0.1" and removed["actor"] == alice
    one(found, action="device.added", actor_device=tablet["device_id"])
    one(found, action="device.removed", details={"device_id": "TABLET", "reason": "deleted"})


def test_a_password_change_is_recorded_with_the_devices_it_signed_out(server: ServerProcess) -> None:
    alice = server.user_id("alice")
    first = server.register("alice")
    login(server, "alice", device_id="PHONE")
    url, headers = server.base_url + V3 + "/account/password", {"Authorization": f"Bearer {first['access_token']}"}
    body: dict[str, Any] = {"new_password": "a brand new passphrase"}
    session = httpx.post(url, json=body, headers=headers).json()["session"]
    done = httpx.post(url, headers=headers, json={**body, "auth": {
        "type": "m.login.password", "session": session, "password": PASSWORD,
        "identifier": {"type": "m.id.user", "user": alice}}})
    assert done.status_code == 200, done.text
    found = entries(server)
    changed = one(found, action="account.password_change")
    assert (changed["actor"], changed["target"], changed["actor_device"]) == (alice, alice, first["device_id"])
    assert changed["source_ip"] == "127.0.0.1" and changed["details"] == {"logout_devices": True}
    removed = one(found, action="device.removed", details={"device_id": "PHONE", "reason": "password_change"})
    assert removed["seq"] > changed["seq"] and removed["source_ip"] == "127.0.0.1"


@pytest.mark.sqlite_only  # edits the SQLite file as someone with the data folder would
def test_verify_passes_then_names_an_edited_and_a_deleted_entry(server: ServerProcess) -> None:
    history(server)
    intact = verify(server)
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout
    found = entries(server)
    edited = one(found, action="login.failed", target=server.user_id("alice"))
    db = server.data_dir / "qasid.db"

    # The server's own triggers refuse both edits, even from outside the server.
    for sql in ("UPDATE audit_log SET source_ip = '10.0.0.1' WHERE seq = ?", "DELETE FROM audit_log WHERE seq = ?"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            tamper(server, (sql, (edited["seq"],)))

    # An attacker with the file drops them and moves the failed login to another address.
    tamper(server, ("DROP TRIGGER audit_log_no_update", ()),
           ("UPDATE audit_log SET source_ip = '10.0.0.1' WHERE seq = ?", (edited["seq"],)))
    broken = verify(server)
    assert broken.returncode == 1
    assert f"BROKEN at entry {edited['seq']}:" in broken.stderr and "edited" in broken.stderr

    # Put the row back exactly: the chain is whole again, so the check is of content, not of touch.
    tamper(server, ("UPDATE audit_log SET source_ip = '127.0.0.1' WHERE seq = ?", (edited["seq"],)))
    assert verify(server).returncode == 0

    deleted = one(found, action="login", actor_device="PHONE")
    tamper(server, ("DROP TRIGGER audit_log_no_delete", ()),
           ("DELETE FROM audit_log WHERE seq = ?", (deleted["seq"],)))
    broken = verify(server)
    assert broken.returncode == 1
    assert f"BROKEN at entry {deleted['seq']}:" in broken.stderr and "missing" in broken.stderr
    assert sqlite3.connect(db).execute("SELECT count(*) FROM audit_log").fetchone()[0] == len(found) - 1


@pytest.mark.sqlite_only  # edits the SQLite file as someone with the data folder would
def test_deleting_the_tail_is_caught_and_a_rewritten_chain_fails_its_anchor(server: ServerProcess) -> None:
    history(server)
    head = verify(server).stdout.split("head: ")[1].split()[0]
    last = int(head.split(":")[0])
    anchor = one(entries(server), seq=last - 2)
    tamper(server, ("DROP TRIGGER audit_log_no_delete", ()), ("DELETE FROM audit_log WHERE seq >= ?", (last - 1,)))
    broken = verify(server)
    assert broken.returncode == 1 and f"BROKEN at entry {last - 1}:" in broken.stderr

    # A thorough attacker rewrites an entry, every hash after it and the head: only an anchor
    # recorded off the machine (the head an earlier verify printed) still catches that.
    conn = sqlite3.connect(server.data_dir / "qasid.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_head_forward_only")
    conn.execute("UPDATE audit_log SET source_ip = '10.6.6.6' WHERE seq = 2")
    prev = conn.execute("SELECT entry_hash FROM audit_log WHERE seq = 1").fetchone()[0]
    rows = conn.execute("SELECT seq, ts, actor, actor_device, action, target, source_ip, unit_id, details"
                        " FROM audit_log WHERE seq >= 2 ORDER BY seq").fetchall()
    for row in rows:
        digest = entry_hash(*row, prev)
        conn.execute("UPDATE audit_log SET prev_hash = ?, entry_hash = ? WHERE seq = ?", (prev, digest, row[0]))
        prev = digest
    conn.execute("UPDATE audit_head SET seq = ?, entry_hash = ?", (rows[-1][0], prev))
    conn.commit()
    conn.close()
    assert verify(server).returncode == 0  # self-consistent again, as far as the file can tell
    anchored = verify(server, "--anchor", f"{anchor['seq']}:{anchor['entry_hash']}")
    assert anchored.returncode == 1
    assert f"BROKEN at entry {anchor['seq']}:" in anchored.stderr and "rewritten" in anchored.stderr
    assert verify(server, "--anchor", head).returncode == 1  # and the old head is gone


def test_concurrent_records_form_one_chain(server: ServerProcess) -> None:
    server.register("alice")
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: login(server, "alice", "wrong" * (i % 3 + 2)).status_code, range(48)))
    assert codes == [403] * 48
    found = entries(server)
    assert [e["seq"] for e in found] == list(range(1, len(found) + 1))
    assert all(e["prev_hash"] == p["entry_hash"] for p, e in itertools.pairwise(found))
    assert verify(server).returncode == 0


def test_hostile_values_are_stored_and_shown_escaped(server: ServerProcess) -> None:
    server.register("alice")
    assert login(server, HOSTILE).status_code == 403
    device_name = HOSTILE
    if server.database is not None:  # PostgreSQL's text can't hold U+0000: such a name is refused, with 400
        refused = login(server, "alice", initial_device_display_name=HOSTILE)
        assert (refused.status_code, refused.json()["errcode"]) == (400, "M_INVALID_PARAM")
        device_name = HOSTILE.replace("\x00", "")
    assert login(server, "alice", initial_device_display_name=device_name).status_code == 200
    found = entries(server)
    listing = server.cli("audit", "list")

    lines = listing.splitlines()
    assert len(lines) == len(found)
    for line, entry in zip(lines, found, strict=True):
        assert line.startswith(f"{entry['seq']}\t") and line.count("\t") == 7
    for char in ("\x1b", "\x00", "\x07", "\u202e", "\r"):
        assert char not in listing
    failed = one(found, action="login.failed")
    assert "\\n7\\t" in failed["target"] and "\\x1b[2j" in failed["target"] and "\\u202e" in failed["target"]
    assert unescape(failed["target"]) == "@" + HOSTILE.lower() + ":" + server.server_name
    added = [e for e in found if e["action"] == "device.added" and e["details"]["display_name"] is not None]
    assert unescape(added[0]["details"]["display_name"]) == device_name
    # What was hashed is what is stored: the chain holds.
    assert verify(server).returncode == 0


def test_unit_admin_reads_only_their_subtree(gov: Gov) -> None:
    ministry_a = gov.unit("MIN-A")
    division_a = gov.unit("DIV-A1", parent=ministry_a)
    ministry_b = gov.unit("MIN-B")
    anna = gov.official("anna", division_a)
    boris = gov.official("boris", ministry_b)
    adam = gov.official("adam", ministry_a)
    gov.ok("PUT", f"/units/{ministry_a}/admins/{adam.user_id}", {"admin": True})
    for session in (anna, boris):
        assert login(gov.server, session.user_id, "wrong password").status_code == 403

    seen = gov.ok("GET", "/audit?limit=1000", as_=adam)["entries"]
    assert seen and {e["unit_id"] for e in seen} <= {ministry_a, division_a}
    one(seen, action="login.failed", target=anna.user_id)  # filed under anna's unit by core's hook
    assert not [e for e in seen if boris.user_id in (e["actor"], e["target"])]
    everything = gov.ok("GET", "/audit?limit=1000")["entries"]
    one(everything, action="login.failed", target=boris.user_id)
    assert any(e["unit_id"] is None for e in everything) and len(everything) > len(seen)
    only_b = gov.ok("GET", f"/audit?unit_id={ministry_b}&action=login.failed")["entries"]
    assert [e["target"] for e in only_b] == [boris.user_id]

    # Out of scope, or no such unit: the same 404 as /units/{id}, so the route reveals no unit.
    for unit_id in (ministry_b, 999_999):
        for path in (f"/audit?unit_id={unit_id}", f"/units/{unit_id}"):
            refused = gov.call("GET", path, as_=adam)
            assert (refused.status_code, refused.json()["errcode"]) == (404, "M_NOT_FOUND"), path
    assert gov.call("POST", "/audit/verify", {}, as_=adam).status_code == 403
    assert gov.call("GET", "/audit", as_=anna).status_code == 403
    page = gov.ok("GET", "/audit?limit=2")
    assert [e["seq"] for e in page["entries"]] == [1, 2] and page["next_after"] == 2
    assert gov.ok("GET", "/audit?after=2&limit=1")["entries"][0]["seq"] == 3


@pytest.mark.sqlite_only  # edits the SQLite file as someone with the data folder would
def test_verify_through_the_admin_api(gov: Gov) -> None:
    history(gov.server)
    result = gov.ok("POST", "/audit/verify", {})
    assert result["ok"] is True and result["first_broken_seq"] is None
    head = result["head"]
    assert gov.ok("POST", "/audit/verify", {"anchor": head})["ok"] is True
    assert gov.call("POST", "/audit/verify", {"anchor": {"seq": 1, "entry_hash": "zz"}}).status_code == 400
    victim = one(gov.ok("GET", "/audit?action=login.failed&limit=1")["entries"], action="login.failed")
    tamper(gov.server, ("DROP TRIGGER audit_log_no_update", ()),
           ("UPDATE audit_log SET details = '{}' WHERE seq = ?", (victim["seq"],)))
    broken = gov.ok("POST", "/audit/verify", {})
    assert broken["ok"] is False and broken["first_broken_seq"] == victim["seq"]
    assert f"entry {victim['seq']}" in broken["reason"]
    one(gov.ok("GET", "/audit?action=audit.verify&limit=1000")["entries"], details={
        "ok": False, "first_broken_seq": victim["seq"]})


def test_scoped_reads_at_the_log_level(tmp_path: Path) -> None:
    """AuditLog.entries: a unit admin's set of units sees only those units' entries, never national ones."""
    import asyncio

    from qasid.core.clock import Clock
    from qasid.gov.audit import AuditLog
    from qasid.store.sqlite.audit import AuditStore
    from qasid.store.sqlite.engine import Database

    async def run() -> None:
        db = Database(tmp_path / "qasid.db")
        try:
            log = AuditLog(AuditStore(db), Clock())
            for unit in (1, 2, 3, None, 1):
                await log.record(actor="@admin:x", action="unit.touch", unit_id=unit)
            assert [e["unit_id"] for e in await log.entries(unit_ids=frozenset({1, 3}))] == [1, 3, 1]
            assert await log.entries(unit_ids=frozenset()) == []
            assert len(await log.entries(unit_ids=None)) == 5
            assert [e["seq"] for e in await log.entries(unit_ids=None, after_seq=2, limit=2)] == [3, 4]
        finally:
            db.close()

    asyncio.run(run())
