"""The SQLite engine: WAL, synchronous=FULL, the shared group-commit writer, one reader connection."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from qasid.store.groupcommit import Also, GroupCommit, with_also, with_then

__all__ = ["Also", "Database", "MigrationError", "connect", "migrate", "with_also", "with_then"]

log = logging.getLogger(__name__)


def connect(path: Path) -> sqlite3.Connection:
    """A connection as the server uses them: WAL, synchronous=FULL, a busy timeout, foreign keys."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Database(GroupCommit):
    """Owns the SQLite connections and the group-commit writer thread."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = connect(path)
        migrate(writer)
        reader = connect(path)
        reader.execute("PRAGMA query_only=ON")
        self._data_version = writer.execute("PRAGMA data_version").fetchone()[0]
        super().__init__(writer, reader)

    def _begin(self, conn: sqlite3.Connection) -> bool:
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        # Another process (the operator CLI) committed since our last transaction: stream
        # positions it took are read again, never handed out twice. Checked under the write
        # lock, so nobody can commit between the check and our inserts.
        moved = version != self._data_version
        self._data_version = version
        return bool(moved)

    def execute_now(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """One statement, committed at once on a connection of its own: for startup, before any traffic."""
        conn = connect(self.path)
        try:
            conn.execute(sql, params)
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own, in one transaction: every query sees the same moment."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def schema_problem(self) -> str | None:
        """Why this database can't serve now (unreadable, or a schema this build doesn't know), or None.

        Opens the file afresh, read-only: the connections held open would go on working on a file
        that has since been removed or made unreadable, which is exactly what this must notice.
        """
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
            try:
                applied = int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
            finally:
                conn.close()
        except sqlite3.Error as e:
            return f"database unreadable: {e}"
        known = newest_schema_version()
        if applied != known:
            relation = "newer than" if applied > known else "older than"
            return f"database schema version {applied} is {relation} this build's ({known})"
        return None

    def checkpoint(self) -> None:
        """Checkpoint and truncate the WAL on a connection of its own; blocking: run it off the event loop."""
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


class MigrationError(Exception):
    """The schema can't be brought up to date; the message names the migration and what failed."""


@dataclass(frozen=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    script: Traversable


@dataclass(frozen=True)
class MigrationPlan:
    """Where a database's schema is, and the migrations that would bring it to the newest."""

    current: int
    newest: int
    pending: tuple[Migration, ...]


def migration_files(folder: Traversable | None = None) -> list[Migration]:
    """The migration files in version order (the package's own unless `folder` is given)."""
    folder = folder or resources.files("qasid.store.sqlite") / "migrations"
    found = sorted(
        (int(item.name.split("_", 1)[0]), item.name, item)
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    )
    return [Migration(version, name, script) for version, name, script in found]


def newest_schema_version(folder: Traversable | None = None) -> int:
    """The version the newest migration file brings a database to."""
    return max((m.version for m in migration_files(folder)), default=0)


def plan_migrations(conn: sqlite3.Connection, folder: Traversable | None = None) -> MigrationPlan:
    """What `migrate` would apply to this database; reads only (no table is created)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    current = int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]) if exists else 0
    files = migration_files(folder)
    newest = max((m.version for m in files), default=0)
    if current > newest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this qasid knows ({newest}):"
            " it was made by a newer qasid; run that version (or restore a backup made by this one)")
    return MigrationPlan(current, newest, tuple(m for m in files if m.version > current))


def migrate(conn: sqlite3.Connection, folder: Traversable | None = None) -> MigrationPlan:
    """Apply the migrations not yet applied, all in one transaction: if one fails, none is applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    plan = plan_migrations(conn, folder)
    if not plan.pending:
        return plan
    # A migration may hash secrets it moves (008: registration tokens); the plaintext it drops
    # is zeroed in the file, and the WAL that held it is emptied once all are applied.
    conn.create_function("sha256", 1, _sha256, deterministic=True)
    secure_delete = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for migration in plan.pending:
            _apply(conn, migration)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # some errors (a full disk) end the transaction themselves
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute(f"PRAGMA secure_delete={int(secure_delete)}")
    for migration in plan.pending:
        log.info("applied migration %s", migration.name)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return plan


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    sql = migration.script.read_text(encoding="utf-8")
    for number, statement in enumerate(_statements(sql), start=1):
        try:
            conn.execute(statement)
        except sqlite3.Error as e:
            first_line = statement.splitlines()[0][:120]
            raise MigrationError(
                f"migration {migration.name} failed at statement {number} ({first_line!r}): {e};"
                " nothing was applied, the database is as it was") from e
    conn.execute("INSERT INTO schema_version VALUES (?)", (migration.version,))


def _sha256(text: str) -> bytes:
    # The same digest as core.accounts.hash_token, so a migrated token still redeems.
    return hashlib.sha256(text.encode()).digest()


def _statements(sql: str) -> list[str]:
    # Split where SQLite's own tokenizer says a statement ends, so a trigger's BEGIN … END body
    # (which holds semicolons) stays one statement.
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
