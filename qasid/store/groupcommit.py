"""The writer both stores share: one thread that group-commits, reads on the caller's thread.

Every write is a function of a connection, queued to the writer thread. The writer takes
everything queued, runs the functions in order in one transaction, and commits the lot at once
(one fsync for SQLite, one WAL flush for PostgreSQL). If one function raises, the batch is run
again with each function in its own SAVEPOINT, so a refused write does not undo its neighbours:
a function may therefore run twice, and must touch nothing but the connection. A caller's future
resolves only after the commit: an acknowledged write is durable.

A write function sees a connection with sqlite3's `execute` and `executemany`, whose cursors
have `fetchone`, `fetchall`, `rowcount` and rows indexable by position and by column name; the
PostgreSQL engine offers the same over psycopg, so the stores' SQL runs on both.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from qasid.stats import DatabaseStats

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BATCH = 512


class Connection(Protocol):
    """What a write function may use: sqlite3.Connection's subset that both engines offer."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Any, /) -> Any: ...


OnCommit = Callable[[Any], None]
# A write to run inside another write's transaction (an audit entry beside the action it records),
# so that both commit or neither does.
Also = Callable[[Any], object]
_Job = tuple[Callable[[Any], Any], asyncio.Future[Any], asyncio.AbstractEventLoop, OnCommit | None]


def with_also(fn: Callable[[Any], T], also: Sequence[Also],
              when: Callable[[T], bool] = lambda result: True) -> Callable[[Any], T]:
    """`fn`, then each of `also` if `when(fn's result)`, as one write: they commit together or not at all."""
    return with_then(fn, lambda result: also if when(result) else ())


def with_then(fn: Callable[[Any], T], then: Callable[[T], Sequence[Also]]) -> Callable[[Any], T]:
    """`fn`, then the writes `then` derives from its result (an audit entry naming what was done), as one write."""

    def txn(conn: Any) -> T:
        result = fn(conn)
        for write in then(result):
            write(conn)
        return result

    return txn


class UnstorableText(ValueError):
    """Text the database cannot keep: PostgreSQL's text holds no U+0000 (SQLite's does). Requests
    that would store it are refused with 400 rather than failing inside the database."""


class GroupCommit(ABC):
    """The group-commit writer thread over a writer connection, and reads on a reader connection.

    An engine supplies both connections and `_begin`, which opens a batch's transaction and
    returns whether another process may have written since this one's last commit (stream
    positions handed out from memory are then read again).
    """

    dialect = ""  # "sqlite" or "postgresql": for the rare statement only one of them has
    # True when other processes write to the same database (PostgreSQL workers): what memory
    # holds of it may be stale, so an append re-checks the room's newest event in its transaction.
    shared = False

    def __init__(self, writer: Any, reader: Any) -> None:
        self._writer_conn = writer
        self.reader = reader
        self._counters: dict[tuple[str, str], int] = {}
        self.stats = DatabaseStats()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run_writer, name="qasid-writer", daemon=True)
        self._thread.start()

    @abstractmethod
    def _begin(self, conn: Any) -> bool:
        """Open a batch's transaction on the writer connection; whether another process wrote since."""

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` in the writer's next transaction; return once it is durably committed."""
        return await self.submit(fn)

    def submit(self, fn: Callable[[Any], T], on_commit: OnCommit | None = None) -> asyncio.Future[T]:
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

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query on the reader connection (sees committed data only)."""
        started = time.perf_counter()
        rows = self._query(sql, params).fetchall()
        self._count_read(started)
        return rows  # type: ignore[no-any-return]

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query, or None."""
        started = time.perf_counter()
        row = self._query(sql, params).fetchone()
        self._count_read(started)
        return row

    def _query(self, sql: str, params: Sequence[Any]) -> Any:
        """The reader's cursor for a query; an engine may add what its connection needs (a retry)."""
        return self.reader.execute(sql, params)

    def _count_read(self, started: float) -> None:
        stats = self.stats
        stats.reads += 1
        stats.read_seconds += time.perf_counter() - started

    def next_id(self, conn: Any, table: str, column: str) -> int:
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
        row = self.read_one(f"SELECT coalesce(max({column}), 0) FROM {table}")
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

    def _commit_batch(self, conn: Any, batch: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            try:
                outcomes = self._run_jobs(conn, batch, isolated=False)
            except _JobRefused:
                # Run the batch again, each job in its own savepoint, so the refused one fails
                # alone. Jobs only touch the connection, so running one twice is harmless.
                # Positions handed out by the rolled-back run are read again from the database.
                self._counters.clear()
                outcomes = self._run_jobs(conn, batch, isolated=True)
        except Exception as e:
            log.exception("commit failed; %d writes refused", len(batch))
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - a lost connection: the engine opens a new one at the next batch
                log.exception("rollback failed")
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

    def _run_jobs(self, conn: Any, batch: list[_Job], isolated: bool) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        if self._begin(conn):
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
                conn.execute("RELEASE SAVEPOINT job")
            except Exception as e:  # noqa: BLE001 - the job's own failure; its neighbours still commit
                conn.execute("ROLLBACK TO SAVEPOINT job")
                conn.execute("RELEASE SAVEPOINT job")
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
