"""The SQLite engine: one writer thread that group-commits, one reader connection.

Every write is a function of a connection, queued to the writer thread. The writer takes
everything queued, runs the functions in order in one transaction, and commits the lot with
one fsync (WAL, synchronous=FULL). If one function raises, the batch is run again with each
function in its own SAVEPOINT, so a refused write does not undo its neighbours: a function may
therefore run twice, and must touch nothing but the connection. A caller's future resolves only
after the commit: an acknowledged write is durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from qasid.stats import DatabaseStats

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BATCH = 512

OnCommit = Callable[[Any], None]
# A write to run inside another write's transaction (an audit entry beside the action it records),
# so that both commit or neither does.
Also = Callable[[sqlite3.Connection], object]
_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop, OnCommit | None]


def with_also(fn: Callable[[sqlite3.Connection], T], also: Sequence[Also],
              when: Callable[[T], bool] = lambda result: True) -> Callable[[sqlite3.Connection], T]:
    """`fn`, then each of `also` if `when(fn's result)`, as one write: they commit together or not at all."""
    return with_then(fn, lambda result: also if when(result) else ())


def with_then(fn: Callable[[sqlite3.Connection], T],
              then: Callable[[T], Sequence[Also]]) -> Callable[[sqlite3.Connection], T]:
    """`fn`, then the writes `then` derives from its result (an audit entry naming what was done), as one write."""

    def txn(conn: sqlite3.Connection) -> T:
        result = fn(conn)
        for write in then(result):
            write(conn)
        return result

    return txn


def connect(path: Path) -> sqlite3.Connection:
    """A connection as the server uses them: WAL, synchronous=FULL, a busy timeout, foreign keys."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Database:
    """Owns the SQLite connections and the group-commit writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = connect(path)
        migrate(self._writer_conn)
        self.reader = connect(path)
        self.reader.execute("PRAGMA query_only=ON")
        self._counters: dict[tuple[str, str], int] = {}
        self.stats = DatabaseStats()
        self._data_version = self._writer_conn.execute("PRAGMA data_version").fetchone()[0]
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run_writer, name="qasid-writer", daemon=True)
        self._thread.start()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in the writer's next transaction; return once it is durably committed."""
        return await self.submit(fn)

    def submit(self, fn: Callable[[sqlite3.Connection], T], on_commit: OnCommit | None = None) -> asyncio.Future[T]:
        """Queue `fn` now; the future resolves once it is durably committed.

        Jobs commit in the order they were submitted, so a caller may queue a write that
        builds on one not yet committed. `on_commit(result)` runs on the event loop after the
        commit, in commit order, before any waiter resumes: what it publishes in memory is
        never seen before the data is durable, nor after anyone could have read past it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop, on_commit))
        return future

    def execute_now(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """One statement, committed at once on a connection of its own: for startup, before any traffic."""
        conn = connect(self.path)
        try:
            conn.execute(sql, params)
        finally:
            conn.close()

    def read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query on the reader connection (sees committed data only)."""
        started = time.perf_counter()
        rows = self.reader.execute(sql, params).fetchall()
        self._count_read(started)
        return rows

    def read_one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        """The first row of a query, or None."""
        started = time.perf_counter()
        row = self.reader.execute(sql, params).fetchone()
        self._count_read(started)
        return row

    def _count_read(self, started: float) -> None:
        stats = self.stats
        stats.reads += 1
        stats.read_seconds += time.perf_counter() - started

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

    def next_id(self, conn: sqlite3.Connection, table: str, column: str) -> int:
        """The next position of a stream kept in `table.column`; only the writer calls this."""
        key = (table, column)
        current = self._counters.get(key)
        if current is None:
            row = conn.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()
            current = int(row[0])
        current += 1
        self._counters[key] = current
        return current

    def current_id(self, table: str, column: str) -> int:
        """The highest committed position of a stream."""
        row = self.reader.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Finish queued writes, then close both connections."""
        self._jobs.put(None)
        self._thread.join(timeout=30)
        self.reader.close()

    def _run_writer(self) -> None:
        conn = self._writer_conn
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._commit_batch(conn, batch)
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            try:
                outcomes = self._run_jobs(conn, batch, isolated=False)
            except _JobRefused:
                # Run the batch again, each job in its own savepoint, so the refused one fails
                # alone. Jobs only touch the connection, so running one twice is harmless.
                # Positions handed out by the rolled-back run are read again from the file.
                self._counters.clear()
                outcomes = self._run_jobs(conn, batch, isolated=True)
        except Exception as e:
            log.exception("commit failed; %d writes refused", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._counters.clear()
            outcomes = [(False, e)] * len(batch)
        self.stats.commit_seconds.observe(time.perf_counter() - started)
        self.stats.commit_batches.observe(len(batch))
        settlements: dict[asyncio.AbstractEventLoop, list[_Settlement]] = {}
        for (_, future, loop, on_commit), (ok, value) in zip(batch, outcomes, strict=True):
            settlements.setdefault(loop, []).append((future, ok, value, on_commit))
        # One wake-up of each event loop per commit, not one per write.
        for loop, items in settlements.items():
            loop.call_soon_threadsafe(_settle_all, items)

    def _run_jobs(self, conn: sqlite3.Connection, batch: list[_Job], isolated: bool) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            # Another process (the operator CLI) committed since our last transaction: stream
            # positions it took are read again, never handed out twice. Checked under the
            # write lock, so nobody can commit between the check and our inserts.
            self._data_version = version
            self._counters.clear()
        for fn, _, _, _ in batch:
            if not isolated:
                try:
                    outcomes.append((True, fn(conn)))
                except Exception:  # noqa: BLE001 - whatever it was, the job is retried alone
                    conn.execute("ROLLBACK")
                    raise _JobRefused from None
                continue
            conn.execute("SAVEPOINT job")
            try:
                outcomes.append((True, fn(conn)))
                conn.execute("RELEASE job")
            except Exception as e:  # noqa: BLE001 - the job's own failure; its neighbours still commit
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, e))
        conn.execute("COMMIT")
        return outcomes


class _JobRefused(Exception):
    """A job raised in a batch run without savepoints: the batch is run again, isolated."""


_Settlement = tuple[asyncio.Future[Any], bool, Any, OnCommit | None]


def _settle_all(items: list[_Settlement]) -> None:
    # Every hook of the commit runs before any future resolves, so no waiter wakes to a
    # half-published commit.
    for _, ok, value, on_commit in items:
        if ok and on_commit is not None:
            try:
                on_commit(value)
            except Exception:
                log.exception("after-commit hook failed")
    for future, ok, value, _ in items:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


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
