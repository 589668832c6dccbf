"""The SQLite store's part of a backup: an online copy of qasid.db, and the check of a restored one.

The copy is made with SQLite's online backup API in one step, which reads one snapshot of the
database: in WAL mode the server keeps committing meanwhile, and the copy holds exactly what
was committed when it began. The copy is left in rollback-journal mode, one self-contained
file; the server puts it back into WAL mode when it opens it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from qasid.store.backup import BackupError, DatabaseCopy
from qasid.store.sqlite.engine import newest_schema_version

DATABASE = "qasid.db"


class SqliteBackup:
    """Backs up and checks the embedded SQLite database."""

    kind = "sqlite"

    def snapshot(self, data_dir: Path, staging: Path) -> DatabaseCopy:
        """Copy the live database into `staging` in one consistent read; nothing is written to it."""
        try:
            source = sqlite3.connect(f"file:{data_dir / DATABASE}?mode=rw", uri=True)
        except sqlite3.Error as e:
            raise BackupError(f"can't open {data_dir / DATABASE} ({e})") from e
        try:
            source.execute("PRAGMA busy_timeout=10000")
            copy = sqlite3.connect(staging / DATABASE)
            try:
                source.backup(copy)  # pages=-1: all in one step, under one read transaction
                copy.execute("PRAGMA journal_mode=DELETE")
                schema_version, server_name = _identity(copy)
                _integrity(copy, "the copy just made")
            finally:
                copy.close()
        except sqlite3.Error as e:
            raise BackupError(f"can't copy {data_dir / DATABASE} ({e})") from e
        finally:
            source.close()
        return DatabaseCopy(files=(DATABASE,), schema_version=schema_version, server_name=server_name)

    def check(self, staging: Path, manifest: dict[str, Any]) -> None:
        """The copy must pass SQLite's integrity check and carry the manifest's schema version and name."""
        path = staging / DATABASE
        if not path.is_file():
            raise BackupError(f"the archive holds no {DATABASE}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            _integrity(conn, f"the archive's {DATABASE}")
            schema_version, server_name = _identity(conn)
        except sqlite3.DatabaseError as e:
            raise BackupError(f"the archive's {DATABASE} is not a usable database ({e})") from e
        finally:
            conn.close()
        if (schema_version, server_name) != (manifest["schema_version"], manifest["server_name"]):
            raise BackupError(
                f"the archive's {DATABASE} is of server {server_name!r} at schema {schema_version}, but its"
                f" manifest says {manifest['server_name']!r} at schema {manifest['schema_version']}")

    def newest_schema_version(self) -> int:
        """The highest migration this qasid ships."""
        return newest_schema_version()


def _identity(conn: sqlite3.Connection) -> tuple[int, str]:
    try:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        row = conn.execute("SELECT server_name FROM server_identity").fetchone()
    except sqlite3.OperationalError:  # no such table
        version = row = None
    if version is None or row is None:
        raise BackupError("the database has no schema version or server name: not a qasid database")
    return int(version), str(row[0])


def _integrity(conn: sqlite3.Connection, what: str) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(problems)}")
