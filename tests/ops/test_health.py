"""GET /_qasid/health and /_qasid/ready against the real server, healthy and with its database unusable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess


def test_health_and_ready_answer(server: ServerProcess) -> None:
    health = httpx.get(server.base_url + "/_qasid/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/_qasid/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


@pytest.mark.sqlite_only  # acts on the SQLite file
def test_not_ready_while_the_database_file_is_gone(server: ServerProcess) -> None:
    # Root ignores file modes, so the file is moved away rather than made unreadable: the open
    # connections go on working, which is why readiness must open the file afresh.
    database = server.data_dir / "qasid.db"
    moved = database.with_name("elsewhere.db")
    database.rename(moved)
    try:
        ready = httpx.get(server.base_url + "/_qasid/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "database unreadable" in ready.json()["reason"]
        assert httpx.get(server.base_url + "/_qasid/health").status_code == 200  # alive all the same
    finally:
        moved.rename(database)
    assert httpx.get(server.base_url + "/_qasid/ready").status_code == 200


@pytest.mark.sqlite_only  # acts on the SQLite file
def test_not_ready_when_the_schema_is_ahead_of_this_build(server: ServerProcess) -> None:
    _set_schema_version(server.data_dir / "qasid.db", 9999)
    ready = httpx.get(server.base_url + "/_qasid/ready")
    assert ready.status_code == 503
    assert "schema version 9999 is newer than this build's" in ready.json()["reason"]


def _set_schema_version(database: Path, version: int) -> None:
    conn = sqlite3.connect(database)
    try:
        conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
        conn.commit()
    finally:
        conn.close()
