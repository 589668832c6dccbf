"""The PostgreSQL engine: the shared group-commit writer over psycopg, one reader connection.

Several processes (workers, on several hosts) write to one database. Each batch takes the
writers' advisory lock inside its transaction, so batches commit one after another across all of
them: stream positions are handed out in commit order and never seen out of order, and a room's
events are appended one at a time, as with SQLite's single writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import psycopg

from qasid.store.groupcommit import GroupCommit
from qasid.store.postgres import sql
from qasid.store.postgres.connection import PgConnection
from qasid.store.sqlite.engine import Migration, MigrationError, MigrationPlan

log = logging.getLogger(__name__)

# Transaction-scoped advisory locks: one for writers, one for whoever applies migrations. Keyed by
# the schema, so deployments (or test servers) in separate schemas of one database never wait on each other.
WRITERS_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('qasid writers ' || current_schema(), 0))"
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('qasid migrations ' || current_schema(), 0))"


class PgDatabase(GroupCommit):
    """Owns the PostgreSQL connections and the group-commit writer thread."""

    dialect = "postgresql"
    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        writer = PgConnection(url)
        migrate(writer)
        sql.PRIMARY_KEYS.update(primary_keys(writer))
        reader = PgConnection(url)
        self._epoch = int(writer.execute("SELECT n FROM write_epoch").fetchone()[0])
        super().__init__(writer, reader)

    def _begin(self, conn: PgConnection) -> bool:
        if conn.lost:
            conn.reconnect()
        conn.execute("BEGIN")
        conn.execute(WRITERS_LOCK)
        epoch = int(conn.execute("UPDATE write_epoch SET n = n + 1 RETURNING n").fetchone()[0])
        moved = epoch != self._epoch + 1
        self._epoch = epoch
        return moved

    def _query(self, sql: str, params: Sequence[Any]) -> Any:
        """The reader's cursor, once more on a new connection if PostgreSQL went away (a read can be
        repeated). A lookup by text holding U+0000 finds nothing (PgConnection.execute)."""
        try:
            return self.reader.execute(sql, params)
        except psycopg.OperationalError:
            if not self.reader.lost:
                raise
            self.reader.reconnect()
            return self.reader.execute(sql, params)

    def execute_now(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """One statement, committed at once on a connection of its own: for startup, before any traffic."""
        conn = PgConnection(self.url)
        try:
            conn.execute(statement, params)
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[PgConnection]:
        """A read-only connection of its own, in one transaction: every query sees the same moment."""
        conn = PgConnection(self.url)
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn
        finally:
            conn.close()

    def schema_problem(self) -> str | None:
        """Why the database can't serve now (unreachable, or a schema this build doesn't know), or None."""
        return self.problem_at(self.url)

    @staticmethod
    def problem_at(url: str) -> str | None:
        """`schema_problem` of the database at `url`, on a connection of its own."""
        try:
            with psycopg.connect(url, connect_timeout=2) as raw:
                row = raw.execute("SELECT max(version) FROM schema_version").fetchone()
        except psycopg.Error as e:
            return f"database unreachable: {e}"
        applied, known = int((row or [0])[0] or 0), newest_schema_version()
        if applied != known:
            relation = "newer than" if applied > known else "older than"
            return f"database schema version {applied} is {relation} this build's ({known})"
        return None

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL recycles its own write-ahead log."""


def primary_keys(conn: PgConnection) -> dict[str, tuple[str, ...]]:
    """Each table's primary key columns, in order."""
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, array_agg(a.attname ORDER BY k.n) FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        " WHERE c.contype = 'p' AND c.connamespace = current_schema()::regnamespace GROUP BY 1").fetchall()
    return {str(table): tuple(columns) for table, columns in rows}


def migration_files() -> list[Migration]:
    """PostgreSQL's own migration files, in version order."""
    folder: Traversable = resources.files("qasid.store.postgres") / "migrations"
    found = sorted((int(item.name.split("_", 1)[0]), item.name, item)
                   for item in folder.iterdir() if item.name.endswith(".sql"))
    return [Migration(version, name, script) for version, name, script in found]


def newest_schema_version() -> int:
    return max((m.version for m in migration_files()), default=0)


def plan_migrations(conn: PgConnection) -> MigrationPlan:
    """Where the database's schema is and what `migrate` would apply; reads only."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
    current = int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]) if exists else 0
    files = migration_files()
    newest = max((m.version for m in files), default=0)
    if current > newest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this qasid knows ({newest}):"
            " it was made by a newer qasid; run that version (or restore a backup made by this one)")
    return MigrationPlan(current, newest, tuple(m for m in files if m.version > current))


def migrate(conn: PgConnection) -> MigrationPlan:
    """Apply the migrations not yet applied, in one transaction, under a lock: workers starting at once
    apply them once."""
    conn.execute("BEGIN")
    try:
        conn.execute(MIGRATION_LOCK)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        plan = plan_migrations(conn)
        for migration in plan.pending:
            try:
                conn.raw.execute(migration.script.read_text(encoding="utf-8"))  # several statements: no parameters
            except psycopg.Error as e:
                raise MigrationError(f"migration {migration.name} failed: {e}; nothing was applied") from e
            conn.execute("INSERT INTO schema_version VALUES (?)", (migration.version,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for migration in plan.pending:
        log.info("applied migration %s", migration.name)
    return plan
