"""`qasid admin migrate-db`: a populated SQLite server moves to PostgreSQL and its clients carry on.

Real matrix-nio clients (vodozemac crypto) chat in an encrypted room on SQLite; one of them has a
room key and a message still waiting for it. The copy is refused while the server runs; an
interrupted copy, run again, ends with the same rows as one uninterrupted run. The server then
starts on PostgreSQL on the same data folder and the same clients, with their access tokens, sync
tokens and crypto stores, sync on without missing or repeating anything and decrypt old and new
messages; search, the key backup, the organisation and the audit chain came along.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from nio import RoomMessagesResponse, RoomMessageText

from tests import pg
from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

pytestmark = pytest.mark.skipif(
    not pg.DATABASE_URL, reason="migrate-db copies into PostgreSQL: set QASID_TEST_DATABASE_URL to test it")

PASSWORD = "a long enough passphrase"
V3 = "/_matrix/client/v3"
BACKUP = "m.megolm_backup.v1.curve25519-aes-sha2"


@pytest.fixture(autouse=True)
def _drop_schemas() -> Iterator[None]:
    """The schemas these tests make are dropped after each, on whichever backend the suite runs."""
    yield
    pg.drop_unused_schemas()


def _sqlite_server(data_dir: Path) -> ServerProcess:
    server = ServerProcess(data_dir)
    server.database = None  # whatever backend the other tests run on, this one starts on SQLite
    return server


def _schema() -> pg.TestSchema:
    schema = pg.TestSchema()
    schema.create()
    return schema


def _tables(schema: pg.TestSchema) -> dict[str, list[str]]:
    """Every row of every table but the run's own record (its times differ), in a stable order."""
    names = [r[0] for r in schema.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'sqlite_import_run'")]
    return {name: sorted(repr(row) for row in schema.query(f"SELECT * FROM {name}")) for name in names}


async def _populate(server: ServerProcess, alice: NioUser, bob: NioUser) -> dict[str, Any]:
    token = server.create_token(uses=2)
    await alice.register(PASSWORD, token)
    await bob.register(PASSWORD, token)
    room_id = await alice.create_encrypted_room(invite=[bob.user_id])
    await bob.join(room_id)
    await alice.send(room_id, "before the move, read at once")
    await bob.wait_for(room_id, "before the move, read at once")
    # Bob does not sync again on SQLite: this message and its new room key wait in his to-device
    # inbox and timeline, and reach him from PostgreSQL.
    await alice.send(room_id, "before the move, read after it")

    headers = {"Authorization": f"Bearer {alice.client.access_token}"}
    async with httpx.AsyncClient(base_url=server.base_url + V3, headers=headers, timeout=30) as http:
        plain = (await http.post("/createRoom", json={"name": "Plain notes"})).json()["room_id"]
        sent = await http.put(f"/rooms/{plain}/send/m.room.message/n1",
                              json={"msgtype": "m.text", "body": "quarterly procurement schedule"})
        assert sent.status_code == 200, sent.text
        version = (await http.post("/room_keys/version", json={"algorithm": BACKUP, "auth_data": {"public_key": "pk"}})).json()["version"]
        backed_up = {"first_message_index": 0, "forwarded_count": 0, "is_verified": False,
                     "session_data": {"ciphertext": "c", "ephemeral": "e", "mac": "m"}}
        stored = await http.put(f"/room_keys/keys/{room_id}/session1", params={"version": version}, json=backed_up)
        assert stored.status_code == 200, stored.text
        picture = os.urandom(20_000)
        uploaded = await http.post(server.base_url + "/_matrix/media/v3/upload", content=picture,
                                   headers={"Content-Type": "application/octet-stream"})
        assert uploaded.status_code == 200, uploaded.text
    server.cli("unit", "create", "--code", "MOF", "--name", "Ministry of Finance")
    server.cli("unit", "create", "--code", "MOF-B", "--name", "Budget", "--parent", "MOF")
    server.cli("official", "create", "--unit", "MOF-B", "--username", "carol", "--designation", "Director",
               "--password", PASSWORD)
    return {"room_id": room_id, "plain": plain, "version": version, "backed_up": backed_up, "picture": picture,
            "media_id": uploaded.json()["content_uri"].rsplit("/", 1)[1]}


async def _refused_while_serving(server: ServerProcess, alice: NioUser, room_id: str) -> None:
    schema = _schema()
    sending = asyncio.create_task(alice.send(room_id, "written while the copy is tried"))
    refused = await asyncio.to_thread(server.run_cli, "migrate-db", "--to", schema.url)
    await sending
    assert refused.returncode == 1 and "a qasid server is running" in refused.stderr, refused.stderr
    assert not schema.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")


def _interrupted_then_resumed(server: ServerProcess, schema: pg.TestSchema) -> None:
    copying = subprocess.Popen(
        [sys.executable, "-m", "qasid.cli", "admin", "migrate-db", "--to", schema.url, "--chunk-rows", "1"],
        env=server._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copied = schema.query("SELECT coalesce(sum(copied), 0) FROM sqlite_import") if _has_progress(schema) else [(0,)]
        if copied[0][0] >= 30:
            break
        time.sleep(0.02)
    assert copying.poll() is None, "the copy ended before it could be interrupted"
    copying.send_signal(signal.SIGKILL)
    copying.wait()
    assert schema.query("SELECT finished_ts FROM sqlite_import_run") == [(None,)]
    resumed = server.run_cli("migrate-db", "--to", schema.url)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed and copied" in resumed.stdout and "audit log intact on PostgreSQL" in resumed.stdout, resumed.stdout


def _has_progress(schema: pg.TestSchema) -> bool:
    return bool(schema.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'sqlite_import'"))


async def _sync_until(user: NioUser, room_id: str, body: str) -> None:
    await user.wait_for(room_id, body)
    bodies = user.received[room_id]
    assert len(bodies) == len(set(bodies)), f"a message came twice: {bodies}"


async def test_a_populated_server_moves_to_postgresql_and_its_clients_carry_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = _sqlite_server(data_dir)
    server.start()
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    moved: ServerProcess | None = None
    try:
        facts = await _populate(server, alice, bob)
        room_id = facts["room_id"]
        await alice.sync()
        await _refused_while_serving(server, alice, room_id)
        server.stop()

        resumed = _schema()
        _interrupted_then_resumed(server, resumed)
        straight = _schema()
        once = server.run_cli("migrate-db", "--to", straight.url)
        assert once.returncode == 0 and "row counts match" in once.stdout, once.stderr
        assert _tables(resumed) == _tables(straight)
        again = server.run_cli("migrate-db", "--to", straight.url)
        assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
        assert resumed.query("SELECT n FROM write_epoch") == [(0,)]

        moved = ServerProcess(data_dir)
        moved.database = resumed
        moved.start()
        for user in (alice, bob):  # the same clients: access token, sync token and crypto store
            user.client.homeserver = moved.base_url
        await _sync_until(bob, room_id, "before the move, read after it")
        assert bob.received[room_id][:2] == ["before the move, read at once", "before the move, read after it"]
        await alice.send(room_id, "after the move")
        await _sync_until(bob, room_id, "after the move")
        await bob.send(room_id, "answered from PostgreSQL")
        await _sync_until(alice, room_id, "answered from PostgreSQL")
        history = await bob.client.room_messages(room_id, start="", limit=50)
        assert isinstance(history, RoomMessagesResponse), history
        decrypted = {e.body for e in history.chunk if isinstance(e, RoomMessageText)}
        assert {"before the move, read at once", "before the move, read after it", "after the move"} <= decrypted

        await _check_carried_over(moved, alice, facts)
        audit = moved.run_cli("audit", "verify")
        assert audit.returncode == 0 and "audit log intact" in audit.stdout, audit.stdout + audit.stderr
        units = moved.cli("unit", "list")
        assert "MOF-B" in units
        # The next unit gets an ID past the copied ones.
        assert resumed.query("SELECT nextval(pg_get_serial_sequence('units', 'unit_id'))") == [(3,)]
    finally:
        await alice.close()
        await bob.close()
        server.stop()
        if moved:
            moved.stop()


async def _check_carried_over(server: ServerProcess, alice: NioUser, facts: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {alice.client.access_token}"}
    async with httpx.AsyncClient(base_url=server.base_url + V3, headers=headers, timeout=30) as http:
        found = await http.post("/search", json={"search_categories": {"room_events": {"search_term": "procurement"}}})
        assert found.status_code == 200, found.text
        assert found.json()["search_categories"]["room_events"]["count"] == 1
        key = await http.get(f"/room_keys/keys/{facts['room_id']}/session1", params={"version": facts["version"]})
        assert key.status_code == 200 and key.json() == facts["backed_up"], key.text
        media = await http.get(f"{server.base_url}/_matrix/client/v1/media/download/{server.server_name}/{facts['media_id']}")
        assert media.status_code == 200 and media.content == facts["picture"]  # the row moved, the file stayed


def test_refusals_name_the_reason_and_copy_nothing(tmp_path: Path) -> None:
    server = _sqlite_server(tmp_path / "data")
    server.start()
    server.register("dana")
    server.stop()
    database = server.data_dir / "qasid.db"

    def run(schema: pg.TestSchema) -> subprocess.CompletedProcess[str]:
        return server.run_cli("migrate-db", "--to", schema.url)

    def change(sql: str) -> None:
        db = sqlite3.connect(database)
        with db:
            db.execute(sql)
        db.close()

    newest = server.query("SELECT max(version) FROM schema_version")[0][0]
    change(f"DELETE FROM schema_version WHERE version = {newest}")
    older = run(_schema())
    assert older.returncode == 1 and "older than this qasid's" in older.stderr and "start the server" in older.stderr
    change(f"INSERT INTO schema_version VALUES ({newest})")

    change("CREATE TABLE future_feature (x INTEGER)")
    unknown = run(_schema())
    assert unknown.returncode == 1 and "future_feature has no PostgreSQL counterpart" in unknown.stderr, unknown.stderr
    change("DROP TABLE future_feature")

    writer = sqlite3.connect(database, isolation_level=None)  # another process writing (an admin command)
    writer.execute("BEGIN IMMEDIATE")
    busy = run(_schema())
    writer.execute("ROLLBACK")
    writer.close()
    assert busy.returncode == 1 and "the SQLite database is being written" in busy.stderr, busy.stderr

    copied = _schema()
    assert run(copied).returncode == 0
    change("DELETE FROM access_tokens")
    changed = run(copied)
    assert changed.returncode == 1 and "changed since the earlier run" in changed.stderr, changed.stderr

    occupied = _schema()
    with psycopg.connect(occupied.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE something_else (x BIGINT)")
    refused = run(occupied)
    assert refused.returncode == 1 and "not from an earlier run" in refused.stderr, refused.stderr
