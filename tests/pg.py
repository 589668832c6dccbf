"""PostgreSQL for the tests: a schema of its own for every test server, dropped once it is gone.

QASID_TEST_BACKEND=postgresql runs the servers on PostgreSQL; QASID_TEST_DATABASE_URL names the
database (CI: the machine's own, postgresql://postgres@127.0.0.1:5432/postgres). A schema costs far
less than a database, and dropping it takes everything the server made.
"""

from __future__ import annotations

import gc
import os
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest

ON_POSTGRES = os.environ.get("QASID_TEST_BACKEND", "sqlite") == "postgresql"
DATABASE_URL = os.environ.get("QASID_TEST_DATABASE_URL", "")
# Schemas whose server objects are gone: dropped after the test that made them.
_LIVE: dict[str, weakref.ref[TestSchema]] = {}


def admin_connection() -> Any:
    import psycopg

    return psycopg.connect(DATABASE_URL, autocommit=True)


class TestSchema:
    """One server's own schema; `url` points the server at it."""

    __test__ = False

    def __init__(self) -> None:
        if not DATABASE_URL:
            pytest.skip("QASID_TEST_BACKEND=postgresql needs QASID_TEST_DATABASE_URL: the PostgreSQL to test against")
        self.name = f"qasid_test_{uuid.uuid4().hex[:12]}"
        separator = "&" if "?" in DATABASE_URL else "?"
        self.url = f"{DATABASE_URL}{separator}options={quote(f'-csearch_path={self.name}')}"
        self.created = False
        self._conn: Any = None

    def create(self) -> None:
        if self.created:
            return
        with admin_connection() as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        self.created = True
        _LIVE[self.name] = weakref.ref(self)

    def _connection(self) -> Any:
        """One connection kept for the schema's queries (autocommit: each sees what is committed)."""
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Queries inside see one moment: a commit in flight when a server was killed lands before or after all of them."""
        conn = self._connection()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")

    def query(self, sql: str, params: tuple[Any, ...] = (), seqscan: bool = True) -> list[tuple[Any, ...]]:
        conn = self._connection()
        conn.execute(f"SET LOCAL enable_seqscan = {'on' if seqscan else 'off'}" if conn.info.transaction_status
                     else f"SET enable_seqscan = {'on' if seqscan else 'off'}")
        return [tuple(row) for row in conn.execute(sql.replace("%", "%%").replace("?", "%s"), params).fetchall()]

    def dump(self) -> bytes:
        blob = b""
        conn = self._connection()
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (self.name,)).fetchall()]
        for table in tables:
            # Binary: every value as its bytes (a hash in a bytea column is its 32 bytes, not hex).
            with conn.cursor().copy(f"COPY {self.name}.{table} TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    blob += bytes(chunk)
        return blob


def drop_unused_schemas(everything: bool = False) -> None:
    """Drop the schemas of servers no test holds any more (all of them at the end of the session)."""
    if not _LIVE:
        return
    gc.collect()  # a server object in a reference cycle is gone only once collected
    gone = [name for name, ref in _LIVE.items() if everything or ref() is None]
    if not gone:
        return
    with admin_connection() as conn:
        for name in gone:
            schema = _LIVE.pop(name)()
            if schema is not None:
                schema.close()
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
