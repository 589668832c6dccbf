"""Two qasid workers on one PostgreSQL database, as on two hosts: each its own port, one data folder
(the signing key and media on shared storage). Skipped, saying why, without QASID_TEST_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.server import ServerProcess


def _schema() -> pg.TestSchema:
    if not pg.DATABASE_URL:
        pytest.skip("the multi-worker tests need PostgreSQL: set QASID_TEST_DATABASE_URL")
    return pg.TestSchema()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running workers sharing one database schema and one data folder."""
    schema = _schema()
    procs = []
    for _ in range(2):
        proc = ServerProcess(tmp_path / "data")
        proc.database = schema
        procs.append(proc)
    for proc in procs:
        proc.start()
    yield procs
    for proc in procs:
        proc.stop()
    if schema.created:
        with pg.admin_connection() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")


@pytest.fixture
def workers_schema() -> Iterator[pg.TestSchema]:
    """An empty schema of its own, dropped afterwards."""
    schema = _schema()
    yield schema
    if schema.created:
        with pg.admin_connection() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")
