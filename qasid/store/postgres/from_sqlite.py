"""Copying an SQLite deployment into PostgreSQL (`qasid admin migrate-db --to postgresql://…`).

The source is held under SQLite's write lock for the whole run, so the copy is one consistent
snapshot and nothing changes underneath it. Every table is copied in chunks ordered by rowid; each
chunk commits together with how far its table has come (`sqlite_import`), so an interrupted run is
continued by running the command again, as long as the source is still what it was: a fingerprint
of its rows is kept beside the progress and checked first.

The list of tables comes from the SQLite file itself: a table this code does not know how to copy
(one a future migration adds without a PostgreSQL counterpart, or whose columns differ) stops the
run before anything is written.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qasid.store.postgres.connection import PgConnection
from qasid.store.postgres.engine import migrate, primary_keys
from qasid.store.sqlite.engine import plan_migrations

# SQLite tables that are not copied row by row, and why.
NOT_COPIED = {
    "schema_version": "PostgreSQL's own migrations record its version",
    **{f"event_search_{part}": "FTS5's own storage; the index is copied through event_search"
       for part in ("data", "idx", "content", "docsize", "config")},
}
# PostgreSQL tables with no SQLite counterpart, left as its migrations made them.
TARGET_ONLY = {"write_epoch", "schema_version", "sqlite_import", "sqlite_import_run"}
# The run's own record in the target: which source it copies, and how far each table has come.
_PROGRESS_SCHEMA = (
    ("CREATE TABLE sqlite_import_run (source_fingerprint TEXT NOT NULL, started_ts BIGINT NOT NULL,"
     " finished_ts BIGINT)"),
    ("CREATE TABLE sqlite_import (table_name TEXT PRIMARY KEY, last_rowid BIGINT NOT NULL,"
     " copied BIGINT NOT NULL, done BIGINT NOT NULL)"),
)


class MigrateDbError(Exception):
    """The copy can't start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class Table:
    """One table to copy: the columns both sides share, and how PostgreSQL takes them."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # PostgreSQL's type of each column
    always_identity: str | None  # a GENERATED ALWAYS column the copy must set (one_time_keys.rowid)


@dataclass(frozen=True)
class ImportResult:
    """What a run did: rows copied now, per table and in all, and how long it took."""

    already_done: bool
    resumed: bool
    copied: dict[str, int]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(self.copied.values())


Progress = Callable[[str, int, int, bool], None]  # table, rows copied so far, rows in the table, finished


def import_sqlite(source: Path, url: str, *, chunk_rows: int = 5000, progress: Progress | None = None) -> ImportResult:
    """Copy the SQLite database at `source` into the (empty, or partly imported) PostgreSQL at `url`."""
    started = time.monotonic()
    src = _open_source(source)
    try:
        target = PgConnection(url)
        try:
            fingerprint = _fingerprint(src)
            state = _claim_target(target, fingerprint)
            if state == "done":
                return ImportResult(True, True, {}, time.monotonic() - started)
            migrate(target)
            tables = _plan(src, target)  # now against the schema PostgreSQL's migrations made
            copied = {t.name: _copy_table(src, target, t, chunk_rows, progress) for t in _in_dependency_order(target, tables)}
            _check_counts(src, target, tables)
            _set_identities(target)
            target.execute("UPDATE sqlite_import_run SET finished_ts = ?", (int(time.time() * 1000),))
            return ImportResult(False, state == "resumed", copied, time.monotonic() - started)
        finally:
            target.close()
    finally:
        src.close()


def _open_source(path: Path) -> sqlite3.Connection:
    """The source under SQLite's write lock, at the newest schema; refused if anyone is writing it."""
    if not path.is_file():
        raise MigrateDbError(f"{path} does not exist: there is no SQLite database to copy")
    src = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
    src.execute("PRAGMA busy_timeout=2000")
    try:
        src.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        src.close()
        raise MigrateDbError(f"the SQLite database is being written ({e}): stop the server (and any admin"
                           " command) and run again") from e
    plan = plan_migrations(src)
    if plan.pending:
        src.close()
        raise MigrateDbError(f"the SQLite database is at schema version {plan.current}, older than this qasid's"
                           f" ({plan.newest}): start the server on it once (or run `qasid admin migrate`), stop it,"
                           " and run again")
    return src


def _source_tables(src: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Every table of the SQLite file to copy (SQLite's own and NOT_COPIED aside) and its columns; each
    must have a rowid."""
    names = [r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        " ORDER BY name") if r[0] not in NOT_COPIED]
    for name in names:
        try:
            src.execute(f'SELECT rowid FROM "{name}" LIMIT 0')
        except sqlite3.OperationalError as e:
            raise MigrateDbError(f"SQLite table {name} has no rowid: this qasid does not know how to copy it") from e
    return {name: tuple(r[1] for r in src.execute(f'PRAGMA table_info("{name}")')) for name in names}


def _target_columns(target: PgConnection) -> dict[str, list[tuple[str, str, str, str]]]:
    """Each table's columns: name, type, identity ('a' always, 'd' by default, '') and generated ('s' or '')."""
    rows = target.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity, a.attgenerated"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY c.relname, a.attnum").fetchall()
    found: dict[str, list[tuple[str, str, str, str]]] = {}
    for table, column, kind, identity, generated in rows:
        found.setdefault(table, []).append((column, kind, identity, generated))
    return found


def _plan(src: sqlite3.Connection, target: PgConnection) -> list[Table]:
    """The tables to copy; fails on any table or column one side has and the other lacks."""
    source = _source_tables(src)
    schema = _target_columns(target)
    problems = [f"table {name} has no PostgreSQL counterpart" for name in source if name not in schema]
    problems += [f"PostgreSQL table {name} has no SQLite counterpart" for name in schema
                 if name not in source and name not in TARGET_ONLY]
    tables = []
    for name, cols in source.items():
        if name not in schema:
            continue
        wanted = [c for c in schema[name] if not c[3]]  # a generated column (the tsvector) fills itself
        always = next((c[0] for c in wanted if c[2] == "a"), None)
        # A `rowid` column in PostgreSQL stands for SQLite's implicit one (one_time_keys, event_search).
        expected = set(cols) | ({"rowid"} & {c[0] for c in wanted})
        if {c[0] for c in wanted} != expected:
            problems.append(f"table {name}: SQLite has columns {sorted(cols)}, PostgreSQL {sorted(c[0] for c in wanted)}")
            continue
        tables.append(Table(name, tuple(c[0] for c in wanted), tuple(c[1] for c in wanted), always))
    if problems:
        raise MigrateDbError("this qasid does not know how to copy every table of the SQLite database, so no row"
                           " was copied: " + "; ".join(problems))
    return tables


def _rows(src: sqlite3.Connection, table: Table, after: int, limit: int) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{c}"' for c in table.columns)
    return src.execute(f'SELECT rowid, {columns} FROM "{table.name}" WHERE rowid > ? ORDER BY rowid LIMIT ?',
                       (after, limit)).fetchall()


def _all_rows(src: sqlite3.Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    after = -(2 ** 63)
    while rows := _rows(src, table, after, 20000):
        yield rows
        after = rows[-1][0]


def _fingerprint(src: sqlite3.Connection) -> str:
    """A digest of every row of every table: a rerun continues only if the source is still the same."""
    digest = hashlib.sha256()
    for name, columns in _source_tables(src).items():
        table = Table(name, ("rowid", *columns), (), None)
        digest.update(f"\0{table.name}\0".encode())
        for rows in _all_rows(src, table):
            digest.update(repr(rows).encode())
    return digest.hexdigest()


def _claim_target(target: PgConnection, fingerprint: str) -> str:
    """'new' for an empty target (the progress tables are made), 'resumed' or 'done' for an earlier run's."""
    tables = {r[0] for r in target.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
    if not tables:
        target.execute("BEGIN")
        for statement in _PROGRESS_SCHEMA:
            target.execute(statement)
        target.execute("INSERT INTO sqlite_import_run VALUES (?, ?, NULL)", (fingerprint, int(time.time() * 1000)))
        target.execute("COMMIT")
        return "new"
    if "sqlite_import_run" not in tables:
        raise MigrateDbError("the PostgreSQL schema already holds tables, and not from an earlier run of this command:"
                           " name an empty database (or schema)")
    recorded, finished = target.execute("SELECT source_fingerprint, finished_ts FROM sqlite_import_run").fetchone()
    if recorded != fingerprint:
        raise MigrateDbError("the SQLite database changed since the earlier run into this PostgreSQL database"
                           " (was the server started?): empty the PostgreSQL database and run again")
    return "done" if finished is not None else "resumed"


def _in_dependency_order(target: PgConnection, tables: list[Table]) -> list[Table]:
    """Referenced tables before the tables whose foreign keys point at them."""
    needs: dict[str, set[str]] = {t.name: set() for t in tables}
    for child, parent in target.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace").fetchall():
        if child in needs and parent != child:
            needs[child].add(parent)
    ordered: list[Table] = []
    by_name = {t.name: t for t in tables}
    while needs:
        ready = sorted(name for name, parents in needs.items() if not parents & needs.keys())
        if not ready:
            raise MigrateDbError(f"the foreign keys between tables {sorted(needs)} form a cycle: no order copies them")
        for name in ready:
            ordered.append(by_name[name])
            del needs[name]
    return ordered


def _copy_table(src: sqlite3.Connection, target: PgConnection, table: Table, chunk_rows: int,
                progress: Progress | None) -> int:
    """Copy what is left of one table, a chunk per transaction; returns the rows copied by this run."""
    row = target.execute("SELECT last_rowid, copied, done FROM sqlite_import WHERE table_name = ?",
                         (table.name,)).fetchone()
    after, copied, done = (int(row[0]), int(row[1]), bool(row[2])) if row else (-(2 ** 63), 0, False)
    if done:
        return 0
    total = int(src.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
    seeded = copied == 0 and bool(target.execute(f"SELECT 1 FROM {table.name} LIMIT 1").fetchone())
    convert = _converters(table)
    now = 0
    while True:
        rows = _rows(src, table, after, chunk_rows)
        target.execute("BEGIN")
        if rows:
            values = [tuple(f(v) for f, v in zip(convert, r[1:])) for r in rows]
            if seeded:
                _upsert(target, table, values)
            else:
                _copy_rows(target, table, values)
            after, copied, now = rows[-1][0], copied + len(rows), now + len(rows)
        target.execute(
            "INSERT INTO sqlite_import VALUES (?, ?, ?, ?) ON CONFLICT (table_name) DO UPDATE SET"
            " last_rowid = EXCLUDED.last_rowid, copied = EXCLUDED.copied, done = EXCLUDED.done",
            (table.name, after, copied, not rows))
        target.execute("COMMIT")
        if progress:
            progress(table.name, copied, total, not rows)
        if not rows:
            return now


def _converters(table: Table) -> list[Callable[[Any], Any]]:
    """SQLite keeps what it is given; PostgreSQL wants bytes in BYTEA and text in TEXT."""
    def to_bytes(v: Any) -> Any:
        return v.encode() if isinstance(v, str) else v

    def to_text(v: Any) -> Any:
        return v.decode() if isinstance(v, bytes) else v

    return [to_bytes if kind == "bytea" else to_text if kind == "text" else (lambda v: v) for kind in table.types]


def _copy_rows(target: PgConnection, table: Table, values: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(table.columns)
    if table.always_identity:  # COPY can't override GENERATED ALWAYS; inside this transaction only
        target.execute(f"ALTER TABLE {table.name} ALTER COLUMN {table.always_identity} SET GENERATED BY DEFAULT")
    with target.raw.cursor().copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for value in values:
            copy.write_row(value)
    if table.always_identity:
        target.execute(f"ALTER TABLE {table.name} ALTER COLUMN {table.always_identity} SET GENERATED ALWAYS")


def _upsert(target: PgConnection, table: Table, values: list[tuple[Any, ...]]) -> None:
    """A table PostgreSQL's migrations seeded (the audit head, the to-device mark): SQLite's rows replace
    theirs, and a row already equal is left alone (the audit head's trigger refuses a step back or in place)."""
    key = primary_keys(target)[table.name]
    rest = [c for c in table.columns if c not in key]
    placeholders = ", ".join("?" * len(table.columns))
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    changed = f"({', '.join(f'{table.name}.{c}' for c in rest)}) IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in rest)})"
    target.executemany(
        f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({placeholders})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments} WHERE {changed}", values)


def _check_counts(src: sqlite3.Connection, target: PgConnection, tables: list[Table]) -> None:
    wrong = []
    for table in tables:
        have = int(src.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
        got = int(target.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])
        if have != got:
            wrong.append(f"{table.name}: {have} rows in SQLite, {got} in PostgreSQL")
    if wrong:
        raise MigrateDbError("the copy does not match its source: " + "; ".join(wrong))


def _set_identities(target: PgConnection) -> None:
    """Every identity column's sequence past the highest copied value, so new rows get new IDs."""
    for table, column in target.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND a.attidentity <> ''").fetchall():
        target.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max({column}), 0) + 1, false) FROM {table}",
            (table, column))

