"""The PostgreSQL engine on a real PostgreSQL: group commit, refused writes alone, two processes' positions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from qasid.store.postgres.engine import PgDatabase
from tests import pg


@pytest.fixture
def schema() -> Iterator[pg.TestSchema]:
    if not pg.DATABASE_URL:
        pytest.skip("needs QASID_TEST_DATABASE_URL: the PostgreSQL to test against")
    created = pg.TestSchema()
    created.create()
    yield created
    created.close()


def _append(user_id: str, db: PgDatabase) -> Any:
    def txn(conn: Any) -> int:
        stream_id = db.next_id(conn, "device_list_changes", "stream_id")
        conn.execute("INSERT INTO device_list_changes (stream_id, user_id) VALUES (?, ?)", (stream_id, user_id))
        return stream_id
    return txn


async def test_a_write_is_committed_when_it_resolves_and_rows_read_by_name(schema: pg.TestSchema) -> None:
    db = PgDatabase(schema.url)
    try:
        position = await db.write(_append("@a:x", db))
        assert schema.query("SELECT stream_id, user_id FROM device_list_changes") == [(position, "@a:x")]
        row = db.read_one("SELECT stream_id, user_id FROM device_list_changes WHERE user_id = ?", ("@a:x",))
        assert (row["stream_id"], row["user_id"], row[1]) == (position, "@a:x", "@a:x")
    finally:
        db.close()


async def test_a_refused_write_fails_alone_and_its_batch_neighbours_commit(schema: pg.TestSchema) -> None:
    db = PgDatabase(schema.url)
    try:
        def duplicate(conn: Any) -> None:
            conn.execute("INSERT INTO room_aliases VALUES (?, ?, ?)", ("#a:x", "!r:x", "@a:x"))
        await db.write(duplicate)
        results = await asyncio.gather(db.submit(_append("@b:x", db)), db.submit(duplicate),
                                       db.submit(_append("@c:x", db)), return_exceptions=True)
        assert isinstance(results[1], Exception) and "duplicate key" in str(results[1])
        assert sorted(u for (u,) in schema.query("SELECT user_id FROM device_list_changes")) == ["@b:x", "@c:x"]
        assert results[2] == results[0] + 1
    finally:
        db.close()


async def test_two_processes_writing_at_once_never_share_a_position(schema: pg.TestSchema) -> None:
    """Two engines on one database stand for two workers: positions stay unique and in commit order."""
    first, second = PgDatabase(schema.url), PgDatabase(schema.url)
    try:
        writes = [db.submit(_append(f"@{i}:x", db)) for i in range(200) for db in (first, second)]
        positions = await asyncio.gather(*writes)
        assert sorted(positions) == list(range(1, 401))
        committed = [s for (s,) in schema.query("SELECT stream_id FROM device_list_changes ORDER BY stream_id")]
        assert committed == list(range(1, 401))
    finally:
        first.close()
        second.close()


async def test_a_lost_connection_costs_one_batch_and_reads_carry_on(schema: pg.TestSchema) -> None:
    """PostgreSQL restarted or failed over: the engine opens new connections rather than failing for good."""
    db = PgDatabase(schema.url)
    try:
        await db.write(_append("@a:x", db))
        with pg.admin_connection() as admin:
            for pid in (db.reader.raw.info.backend_pid, db._writer_conn.raw.info.backend_pid):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert db.read_one("SELECT count(*) FROM device_list_changes")[0] == 1
        try:
            await db.write(_append("@b:x", db))
        except Exception:  # the batch in flight when the connection died may be refused; the next commits
            pass
        await db.write(_append("@c:x", db))
        assert "@c:x" in {u for (u,) in schema.query("SELECT user_id FROM device_list_changes")}
    finally:
        db.close()
