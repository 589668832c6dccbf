"""Registration and enrollment tokens are kept as hashes: the database file can't redeem them.

The CLI and the admin API show a token once, when it is issued; afterwards it is named by its ID
(sha256: and 16 hex digits of its hash), which get and revoke accept as well as the token.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.gov.helpers import Gov
from tests.server import ServerProcess


def sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_id(token: str) -> str:
    return "sha256:" + sha256(token).hex()[:16]


def valid(server: ServerProcess, token: str) -> bool:
    response = httpx.get(server.base_url + "/_matrix/client/v1/register/m.login.registration_token/validity",
                         params={"token": token}, timeout=60)
    assert response.status_code == 200, response.text
    return bool(response.json()["valid"])


def assert_not_stored(server: ServerProcess, *tokens: str) -> None:
    blob = server.dump_database()  # the main file, its WAL and shared memory, byte by byte
    for token in tokens:
        assert token.encode() not in blob, f"{token} is in the database files"
    stored = {bytes(row[0]) for row in server.query("SELECT token_hash FROM registration_tokens")}
    bound = {bytes(row[0]) for row in server.query("SELECT token_hash FROM enrollment_tokens")}
    assert {sha256(t) for t in tokens} <= stored
    assert all(isinstance(h, bytes) and len(h) == 32 for h in stored | bound)


def test_tokens_are_stored_as_hashes_and_still_redeem(gov: Gov) -> None:
    server = gov.server
    unit = gov.unit("MOF")
    registration = server.create_token(uses=2)
    enrollment = gov.enrollment_token(unit, designation="Auditor", person_name="Hina Baig")
    assert_not_stored(server, registration, enrollment)

    assert gov.register("plain", registration).status_code == 200
    enrolled = gov.register("hina", enrollment)
    assert enrolled.status_code == 200, enrolled.text
    official = gov.ok("GET", f"/officials/{enrolled.json()['user_id']}")
    assert (official["unit_id"], official["designation"]) == (unit, "Auditor")
    # Used up: the single-use enrollment token redeems no more; the registration token once more.
    assert not valid(server, enrollment) and valid(server, registration)
    assert gov.register("again", enrollment).status_code == 401
    assert_not_stored(server, registration, enrollment)
    assert registration not in server.log_path.read_text() and enrollment not in server.log_path.read_text()


def test_cli_and_admin_api_show_a_token_only_when_issued(gov: Gov) -> None:
    server = gov.server
    unit = gov.unit("MOF")
    first, second = server.create_token(uses=3), server.create_token()
    listed = server.cli("token", "list")
    assert first not in listed and second not in listed
    assert f"{token_id(first)}\tuses=0/3\t" in listed and f"{token_id(second)}\tuses=0/1\t" in listed
    assert server.cli("token", "revoke", token_id(first)) == f"revoked {token_id(first)}"
    assert server.cli("token", "revoke", second) == f"revoked {token_id(second)}"  # the token itself, too
    assert not valid(server, first) and not valid(server, second)
    assert server.cli("token", "list") == ""

    issued = gov.ok("POST", "/enrollment_tokens", {"unit_id": unit, "designation": "Clerk"})
    token = issued["token"]
    assert issued["token_id"] == token_id(token)
    for path in ("/enrollment_tokens", f"/enrollment_tokens/{token_id(token)}", f"/enrollment_tokens/{token}"):
        response = gov.call("GET", path)
        assert response.status_code == 200 and token not in response.text, response.text
    assert gov.ok("GET", "/enrollment_tokens")["tokens"] == [{k: v for k, v in issued.items() if k != "token"}]
    assert gov.ok("GET", f"/enrollment_tokens/{token}")["token_id"] == token_id(token)
    issue_entry = [e for e in gov.ok("GET", "/audit")["entries"] if e["action"] == "enrollment_token.issue"]
    assert [e["target"] for e in issue_entry] == [token_id(token)]
    gov.ok("DELETE", f"/enrollment_tokens/{token_id(token)}")
    assert not valid(server, token)
    assert gov.call("GET", f"/enrollment_tokens/{token_id(token)}").status_code == 404

    created = json.loads(server.cli("enroll", "create", "--unit", "MOF"))
    assert created["token_id"] == token_id(created["token"])
    listed = server.cli("enroll", "list")
    assert created["token"] not in listed and created["token_id"] in listed
    json.loads(server.cli("enroll", "revoke", created["token_id"]))
    assert not valid(server, created["token"])


def _legacy_database(data_dir: Path, registration: str, enrollment: str, *more: str) -> None:
    """A database as the last version before hashing left it: schema 4, tokens in plaintext.

    Written by a process that dies without closing, so the plaintext also sits in a WAL.
    """
    data_dir.mkdir(parents=True)
    folder = resources.files("qasid.store.sqlite") / "migrations"
    scripts = [(folder / name).read_text(encoding="utf-8") for name in
               ("001_init.sql", "002_to_device_stream.sql", "003_gov.sql", "004_audit.sql")]
    writer = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL')\n"
        "db.execute('CREATE TABLE schema_version (version INTEGER NOT NULL)')\n"
        "for n, script in enumerate(sys.argv[5:], 1):\n"
        "    db.executescript(script)\n"
        "    db.execute('INSERT INTO schema_version VALUES (?)', (n,))\n"
        "db.execute(\"INSERT INTO units (unit_id, code, name, created_ts) VALUES (1, 'MOF', 'Finance', 0)\")\n"
        "for token in [sys.argv[2], sys.argv[3], *sys.argv[4].split()]:\n"
        "    db.execute('INSERT INTO registration_tokens (token, uses_allowed, expiry_time, created_ts)'\n"
        "               ' VALUES (?, 1, NULL, 0)', (token,))\n"
        "db.execute(\"INSERT INTO enrollment_tokens (token, unit_id, designation, issued_by, created_ts)\"\n"
        "           \" VALUES (?, 1, 'Auditor', '@root:qasid.test', 0)\", (sys.argv[3],))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(data_dir / "qasid.db"), registration, enrollment,
                    " ".join(more), *scripts],
                   check=True, timeout=60)


@pytest.mark.sqlite_only  # upgrades an SQLite file from before the hashes
def test_an_existing_database_is_upgraded_to_hashed_tokens(tmp_path: Path) -> None:
    registration, enrollment = "legacy-registration-Qm9yZWFz", "legacy-enrollment-VGlja2V0MQ"
    # Enough tokens to fill pages that nothing reuses: their plaintext must be wiped, not left free.
    more = [f"legacy-unused-{n:04d}-c2VjcmV0" for n in range(300)]
    data_dir = tmp_path / "data"
    _legacy_database(data_dir, registration, enrollment, *more)
    assert (data_dir / "qasid.db-wal").stat().st_size > 0
    before = b"".join(p.read_bytes() for p in sorted(data_dir.glob("qasid.db*")))
    assert registration.encode() in before and enrollment.encode() in before
    server = ServerProcess(data_dir)
    server.start()
    try:
        assert_not_stored(server, registration, enrollment, *more)
        gov = Gov(server)
        try:
            listed = gov.ok("GET", "/enrollment_tokens")["tokens"]
            assert [(t["token_id"], t["designation"], t["completed"]) for t in listed] == [
                (token_id(enrollment), "Auditor", 0)]
            assert token_id(registration) in server.cli("token", "list")
            assert gov.register("plain", registration).status_code == 200
            enrolled = gov.register("hina", enrollment)
            assert enrolled.status_code == 200, enrolled.text
            official = gov.ok("GET", f"/officials/{enrolled.json()['user_id']}")
            assert (official["unit_id"], official["designation"]) == (1, "Auditor")
        finally:
            gov.http.close()
        assert_not_stored(server, registration, enrollment)
    finally:
        server.stop()


def test_issued_enrollment_tokens_never_begin_with_a_dash(gov: Gov) -> None:
    # A token beginning with "-" reads as an option to `qasid admin token revoke <token>`.
    # One in 64 did: of 400, about 6 would, and none may.
    unit = gov.unit("MOD")
    tokens = [gov.enrollment_token(unit) for _ in range(400)]
    assert [t for t in tokens if t.startswith("-")] == []
