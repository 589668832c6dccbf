"""Migrations: all pending ones or none, a clear error, a newer schema refused, and a dry run that changes nothing."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from qasid.store.sqlite.engine import MigrationError, connect, migrate, migration_files, newest_schema_version
from tests.test_cli import qasid


def migrations_up_to(folder: Path, version: int, extra: dict[str, str] | None = None) -> Path:
    """A migrations folder with the package's files up to `version`, plus `extra` files by name."""
    folder.mkdir()
    for migration in migration_files():
        if migration.version <= version:
            (folder / migration.name).write_text(migration.script.read_text(encoding="utf-8"))
    for name, sql in (extra or {}).items():
        (folder / name).write_text(sql)
    return folder


def _dump(conn: sqlite3.Connection) -> list[str]:
    return list(conn.iterdump())


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    newest = newest_schema_version()
    conn = sqlite3.connect(tmp_path / "qasid.db", isolation_level=None)
    migrate(conn, migrations_up_to(tmp_path / "current", newest))
    conn.execute("INSERT INTO users (user_id, password_hash, created_ts) VALUES ('@a:qasid.test', 'x', 1)")
    before = _dump(conn)
    broken = migrations_up_to(tmp_path / "broken", newest, {
        f"{newest + 1:03d}_fine.sql": "CREATE TABLE added_by_a_good_migration (x INTEGER);",
        f"{newest + 2:03d}_broken.sql": ("ALTER TABLE users ADD COLUMN nickname TEXT;\n"
                                         "UPDATE users SET nickname = 'a';\n"
                                         "INSERT INTO no_such_table VALUES (1);\n"),
    })
    with pytest.raises(MigrationError) as refused:
        migrate(conn, broken)
    message = str(refused.value)
    assert f"{newest + 2:03d}_broken.sql" in message and "statement 3" in message
    assert "no such table: no_such_table" in message and "nothing was applied" in message
    assert _dump(conn) == before  # not even the good migration before it, nor the broken one's first statements
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest
    assert not conn.in_transaction


def test_a_database_from_a_newer_qasid_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "qasid.db")
    migrate(conn)
    conn.execute("INSERT INTO schema_version VALUES (?)", (newest_schema_version() + 1,))
    conn.close()
    with pytest.raises(MigrationError, match="newer than this qasid knows"):
        migrate(connect(tmp_path / "qasid.db"))


def test_migrate_dry_run_says_what_would_change_and_changes_nothing(tmp_path: Path) -> None:
    newest = newest_schema_version()
    data = tmp_path / "qasid-data"
    data.mkdir(mode=0o700)
    conn = connect(data / "qasid.db")
    migrate(conn, migrations_up_to(tmp_path / "old", 5))
    conn.execute("INSERT INTO server_identity (id, server_name) VALUES (1, 'localhost')")
    conn.close()
    before = (data / "qasid.db").read_bytes()

    dry = qasid(tmp_path, "admin", "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    names = [m.name for m in migration_files() if m.version > 5]
    assert f"would upgrade schema version 5 to {newest} by applying {', '.join(names)}" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert (data / "qasid.db").read_bytes() == before

    done = qasid(tmp_path, "admin", "migrate")
    assert done.returncode == 0 and f"upgraded schema version 5 to {newest}" in done.stdout, done.stderr
    again = qasid(tmp_path, "admin", "migrate", "--dry-run")
    assert f"schema version {newest}: up to date" in again.stdout


def test_the_package_ships_every_migration_in_sequence() -> None:
    # Each number once, in order, from 1, with no gap: a branch that took a number ahead renumbers
    # its migration when it lands.
    versions = [m.version for m in migration_files()]
    assert versions == list(range(1, len(versions) + 1))
    assert resources.files("qasid.store.sqlite").joinpath("migrations").is_dir()
