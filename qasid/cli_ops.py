"""`qasid admin backup|restore|migrate`: the operator's care of the data folder itself.

A backup is taken while the server runs and serves; a restore goes only into a new or empty data
folder, and only from an archive whose every checksum holds; `migrate --dry-run` says what an
upgrade would change and changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qasid.config import Settings, SettingsError
from qasid.store.backup import create_backup, restore_archive, stores, verify_archive
from qasid.store.datadir import PRIVATE_UMASK, prepare_data_dir
from qasid.store.sqlite.engine import connect, migrate, plan_migrations

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_ops_parsers(admin_sub: Any, settings_of: SettingsOf) -> None:
    """Add the backup, restore and migrate commands under `qasid admin`."""

    def data_folder_args(parser: argparse.ArgumentParser, help_text: str) -> None:
        parser.add_argument("--data-dir", help=help_text)
        parser.add_argument("--server-name", help="the Matrix server name (default localhost)")

    backup = admin_sub.add_parser(
        "backup", help="write a consistent archive of the data folder (safe while the server runs);"
        " with --verify, check an archive instead",
        description="Write DEST, a compressed tar (0600: it holds secrets) of the database, the signing key and"
        " the media, with a manifest of their SHA-256 checksums. With --verify, DEST is an archive to check.")
    data_folder_args(backup, "data folder (default ./qasid-data)")
    backup.add_argument("dest", metavar="DEST", help="the archive to write (must not exist), e.g. qasid-2024-05-01.tar.gz")
    backup.add_argument("--verify", action="store_true", help="check the archive DEST instead of writing one")
    backup.set_defaults(func=lambda args: cmd_backup(args, settings_of))

    restore = admin_sub.add_parser(
        "restore", help="unpack a verified archive into a new or empty data folder",
        description="Check every checksum of ARCHIVE, then unpack it into the data folder, which must not exist"
        " or be empty. server_name must be the archive's.")
    data_folder_args(restore, "data folder to restore into (default ./qasid-data); missing or empty")
    restore.add_argument("archive", metavar="ARCHIVE")
    restore.set_defaults(func=lambda args: cmd_restore(args, settings_of))

    migrate = admin_sub.add_parser(
        "migrate", help="bring the database schema up to date (the server also does this when it starts)")
    data_folder_args(migrate, "data folder (default ./qasid-data)")
    migrate.add_argument("--dry-run", action="store_true",
                         help="only say which migrations would be applied, from which version to which")
    migrate.set_defaults(func=lambda args: cmd_migrate(args, settings_of))


def cmd_backup(args: argparse.Namespace, settings_of: SettingsOf) -> int:
    """Write an archive, or with --verify check one."""
    if args.verify:
        manifest = verify_archive(Path(args.dest))
        print(f"archive intact: {_summary(manifest)}")
        return 0
    settings = settings_of(args)
    if settings.database_url:
        raise SettingsError(
            "the database is PostgreSQL (database_url): back it up with PostgreSQL's own tools (pg_dump, or"
            " a streaming replica and base backups), and the data folder (signing key, media) with the"
            " file system's; `qasid admin backup` archives an embedded SQLite deployment")
    os.umask(PRIVATE_UMASK)
    manifest = create_backup(settings.data_dir, Path(args.dest).absolute(), stores()["sqlite"])
    print(f"backup written to {args.dest}: {_summary(manifest)}")
    return 0


def cmd_restore(args: argparse.Namespace, settings_of: SettingsOf) -> int:
    """Verify an archive, then unpack it into an empty data folder."""
    args.init = True  # the folder is made here; its emptiness is checked by the restore itself
    settings = settings_of(args)
    os.umask(PRIVATE_UMASK)
    manifest = restore_archive(Path(args.archive), settings.data_dir, settings.server_name)
    print(f"restored into {settings.data_dir}: {_summary(manifest)}")
    print("start the server on it; a database from an older qasid is upgraded as it starts")
    return 0


def cmd_migrate(args: argparse.Namespace, settings_of: SettingsOf) -> int:
    """Apply pending migrations, or with --dry-run list them and change nothing."""
    settings = settings_of(args)
    if settings.database_url:
        plan = _migrate_postgres(settings.database_url, args.dry_run)
    elif args.dry_run:
        conn = sqlite3.connect(f"file:{settings.database_path}?mode=rw", uri=True)
        try:
            conn.execute("PRAGMA query_only=ON")
            plan = plan_migrations(conn)
        finally:
            conn.close()
    else:
        prepare_data_dir(settings.data_dir)
        conn = connect(settings.database_path)
        try:
            plan = migrate(conn)
        finally:
            conn.close()
    if not plan.pending:
        print(f"schema version {plan.current}: up to date, nothing to apply")
        return 0
    names = ", ".join(m.name for m in plan.pending)
    if args.dry_run:
        print(f"would upgrade schema version {plan.current} to {plan.newest} by applying {names}")
        print("nothing was changed (--dry-run)")
    else:
        print(f"upgraded schema version {plan.current} to {plan.newest}: applied {names}")
    return 0


def _migrate_postgres(url: str, dry_run: bool) -> Any:
    from qasid.store.postgres import engine
    from qasid.store.postgres.connection import PgConnection

    conn = PgConnection(url)
    try:
        return engine.plan_migrations(conn) if dry_run else engine.migrate(conn)
    finally:
        conn.close()


def _summary(manifest: dict[str, Any]) -> str:
    size = sum(entry["size"] for entry in manifest["files"])
    return (f"server {manifest['server_name']}, {manifest['store']} schema {manifest['schema_version']},"
            f" made {manifest['created']} by qasid {manifest['qasid_version']}, {len(manifest['files'])} files"
            f" ({size / 1e6:.1f} MB)")
