"""A database made by every earlier set of migrations is upgraded in place when the server starts.

One server is run at the newest schema and used the way officials and operators use it, so
every table that matters holds real rows (signed events, hashed secrets, a hash-chained audit
log). For each earlier version N, a database is built from migration files 1..N alone and given
those rows as that schema held them: the columns it had, and registration and enrollment
tokens in plain text as they were kept before they were hashed. A server started on it must
upgrade it to the very schema a new database gets, keep every row, and serve it: old access
tokens, passwords, messages, an unused registration token, an intact audit chain.

A new migration that does more than add tables, columns or rows must teach `_old_row` how the
earlier schema held the data it moves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from qasid.store.sqlite.engine import migrate, migration_files, newest_schema_version
from tests.server import ServerProcess
from tests.store.sqlite.test_migrations import migrations_up_to

PASSWORD = "correct horse battery"
V3 = "/_matrix/client/v3"
# Tables whose token column was plain text before 008 hashed it.
HASHED_TOKEN_TABLES = {"registration_tokens", "enrollment_tokens"}


@dataclass
class Donor:
    """A data folder at the newest schema, full of real rows, and the secrets that open it."""

    data_dir: Path
    tokens: dict[str, str]  # access tokens by localpart
    plaintexts: dict[bytes, str]  # registration and enrollment tokens by their hash
    spare_token: str  # a registration token with uses left
    room_id: str
    bodies: list[str]


def _register(http: httpx.Client, username: str, token: str) -> dict[str, Any]:
    first = http.post(V3 + "/register", json={"username": username, "password": PASSWORD})
    session = first.json()["session"]
    auth = {"type": "m.login.registration_token", "token": token, "session": session}
    http.post(V3 + "/register", json={"username": username, "password": PASSWORD, "auth": auth})
    done = http.post(V3 + "/register", json={"username": username, "password": PASSWORD,
                                             "auth": {"type": "m.login.dummy", "session": session}})
    assert done.status_code == 200, done.text
    return done.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def donor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Donor]:
    server = ServerProcess(tmp_path_factory.mktemp("donor") / "data",
                           env={"QASID_PUSH_GATEWAY_ALLOWLIST": "https://push.example"})
    server.start()
    try:
        server.create_user("alice", PASSWORD, admin=True)
        spare = server.create_token(uses=3)
        server.cli("unit", "create", "--code", "MOF", "--name", "Finance")
        server.cli("policy", "set", "--unit", "MOF", "retention_days=365")
        enroll_token = json.loads(server.cli("enroll", "create", "--unit", "MOF", "--uses", "2"))["token"]
        server.cli("official", "create", "--unit", "MOF", "--username", "dave", "--password", PASSWORD)
        server.cli("official", "suspend", server.user_id("dave"))
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            bob = _register(http, "bob", spare)
            login = http.post(V3 + "/login", json={"type": "m.login.password", "password": PASSWORD,
                                                   "identifier": {"type": "m.id.user", "user": "alice"}})
            alice = login.json()
            as_alice = {"Authorization": f"Bearer {alice['access_token']}"}
            as_bob = {"Authorization": f"Bearer {bob['access_token']}"}
            room_id = http.post(V3 + "/createRoom", headers=as_alice,
                                json={"name": "Budget", "invite": [bob["user_id"]]}).json()["room_id"]
            assert http.post(f"{V3}/join/{room_id}", headers=as_bob).status_code == 200
            bodies = [f"budget line {i}" for i in range(5)]
            for i, body in enumerate(bodies):
                who = as_alice if i % 2 == 0 else as_bob
                sent = http.put(f"{V3}/rooms/{room_id}/send/m.room.message/t{i}", headers=who,
                                json={"msgtype": "m.text", "body": body})
                assert sent.status_code == 200, sent.text
            event_id = sent.json()["event_id"]
            for response in (
                http.put(f"{V3}/user/{alice['user_id']}/account_data/m.direct", headers=as_alice, json={}),
                http.post(f"{V3}/rooms/{room_id}/receipt/m.read/{event_id}", headers=as_alice, json={}),
                http.post(f"{V3}/user/{alice['user_id']}/filter", headers=as_alice, json={"room": {}}),
                http.put(f"{V3}/sendToDevice/m.test/td1", headers=as_alice,
                         json={"messages": {bob["user_id"]: {bob["device_id"]: {"hello": "bob"}}}}),
                http.put(f"{V3}/profile/{alice['user_id']}/displayname", headers=as_alice,
                         json={"displayname": "Alice A."}),
                http.post("/_matrix/media/v3/upload", headers=as_alice, content=b"the minutes"),
                http.post(f"{V3}/pushers/set", headers=as_alice, json={
                    "kind": "http", "app_id": "gov.app", "pushkey": "key1", "app_display_name": "App",
                    "device_display_name": "Phone", "lang": "en",
                    "data": {"url": "https://push.example/_matrix/push/v1/notify"}}),
            ):
                assert response.status_code == 200, response.text
    finally:
        server.stop()
    plaintexts = {hashlib.sha256(t.encode()).digest(): t for t in (spare, enroll_token)}
    yield Donor(server.data_dir, {"alice": alice["access_token"], "bob": bob["access_token"]},
                plaintexts, spare, room_id, bodies)


def _tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Tables holding data of their own: full-text indexes (virtual tables and their shadow tables)
    are derived from the events, rebuilt by the migration that makes them, and left out."""
    virtual = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_version'")
        if not any(r[0] == v or r[0].startswith(v + "_") for v in virtual)]
    return {name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")] for name in names}


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    return sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)


def _old_row(table: str, columns: list[str], row: dict[str, Any], donor: Donor) -> tuple[Any, ...]:
    """A row of the newest schema as a database at an earlier one held it."""
    if table in HASHED_TOKEN_TABLES and "token" in columns:
        row = {**row, "token": donor.plaintexts[row["token_hash"]]}
    return tuple(row[c] for c in columns)


def _build_old_database(path: Path, version: int, donor: Donor, folder: Path) -> dict[str, list[str]]:
    """A database at schema `version` holding the donor's rows; returns its tables and columns."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, migrations_up_to(folder, version))
    source = sqlite3.connect(donor.data_dir / "qasid.db")
    source.row_factory = sqlite3.Row
    tables = _tables(conn)
    conn.execute("BEGIN")
    for table, columns in tables.items():
        rows = [_old_row(table, columns, dict(r), donor) for r in source.execute(f"SELECT * FROM {table}")]
        marks = ", ".join("?" * len(columns))
        if conn.execute(f"SELECT 1 FROM {table}").fetchone():  # a one-row table a migration filled in
            assignments = ", ".join(f"{c} = ?" for c in columns)
            conn.executemany(f"UPDATE {table} SET {assignments}", rows)
        else:
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    conn.close()
    source.close()
    return tables


# Each version a migration file brings a database to.
@pytest.mark.parametrize("version", [m.version for m in migration_files() if m.version < newest_schema_version()])
def test_a_database_from_an_earlier_schema_is_upgraded_at_start(version: int, donor: Donor, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.data_dir.mkdir(mode=0o700)
    shutil.copy2(donor.data_dir / "signing.key", server.data_dir / "signing.key")
    shutil.copytree(donor.data_dir / "media", server.data_dir / "media")
    old_tables = _build_old_database(server.data_dir / "qasid.db", version, donor, tmp_path / "migrations")
    old = sqlite3.connect(server.data_dir / "qasid.db")
    for table in ("users", "access_tokens", "events", "registration_tokens", "media", "to_device_inbox"):
        assert old.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table  # the old schema holds real rows
    assert old.execute("SELECT max(version) FROM schema_version").fetchone()[0] == version
    old.close()
    server.start()
    try:
        upgraded = sqlite3.connect(f"file:{server.data_dir / 'qasid.db'}?mode=ro", uri=True)
        reference = sqlite3.connect(donor.data_dir / "qasid.db")
        schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        assert upgraded.execute(schema).fetchall() == reference.execute(schema).fetchall()
        assert upgraded.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest_schema_version()
        new_columns = _tables(reference)
        for table, columns in old_tables.items():
            kept = [c for c in new_columns[table] if c in columns or table in HASHED_TOKEN_TABLES]
            assert _rows(upgraded, table, kept) == _rows(reference, table, kept), table
        # Filled in by the migrations themselves from the older data.
        assert upgraded.execute("SELECT server_name FROM server_identity").fetchone()[0] == server.server_name
        position = upgraded.execute("SELECT position FROM to_device_stream").fetchone()[0]
        assert position >= upgraded.execute("SELECT max(stream_id) FROM to_device_inbox").fetchone()[0]
        upgraded.close()
        reference.close()

        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for localpart, token in donor.tokens.items():
                who = http.get(V3 + "/account/whoami", headers={"Authorization": f"Bearer {token}"})
                assert who.status_code == 200 and who.json()["user_id"] == server.user_id(localpart), who.text
            as_bob = {"Authorization": f"Bearer {donor.tokens['bob']}"}
            messages = http.get(f"{V3}/rooms/{donor.room_id}/messages", headers=as_bob,
                                params={"dir": "b", "limit": 50}).json()["chunk"]
            assert [e["content"]["body"] for e in messages if e["type"] == "m.room.message"] == donor.bodies[::-1]
            sent = http.put(f"{V3}/rooms/{donor.room_id}/send/m.room.message/after", headers=as_bob,
                            json={"msgtype": "m.text", "body": "after the upgrade"})
            assert sent.status_code == 200, sent.text
            login = http.post(V3 + "/login", json={"type": "m.login.password", "password": PASSWORD,
                                                   "identifier": {"type": "m.id.user", "user": "alice"}})
            assert login.status_code == 200, login.text
            _register(http, "carol", donor.spare_token)  # a token stored in plain text still redeems
        audit = server.run_cli("audit", "verify")
        assert audit.returncode == 0 and "audit log intact" in audit.stdout, audit.stdout + audit.stderr
    finally:
        server.stop()
