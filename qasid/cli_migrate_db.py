"""`qasid admin migrate-db --to postgresql://…`: move an SQLite deployment into PostgreSQL.

The server must be stopped: the command refuses while one serves the data folder or anyone writes
the database. The data folder keeps the signing key and the media; once the copy is verified
(row counts, and the audit chain recomputed on PostgreSQL) the operator sets database_url and
starts the server on the same folder.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from qasid.config import Settings, SettingsError
from qasid.store.datadir import no_server_running

SettingsOf = Callable[[argparse.Namespace], Settings]
WithStore = Callable[[Settings, Any], Any]


def add_migrate_db_parser(admin_sub: Any, common: Callable[[argparse.ArgumentParser], None],
                          settings_of: SettingsOf, with_store: WithStore) -> None:
    """Add `qasid admin migrate-db`."""
    parser = admin_sub.add_parser(
        "migrate-db", help="copy this SQLite deployment into PostgreSQL (server stopped; resumable)",
        description="Copy every table of the data folder's SQLite database into the PostgreSQL database at --to,"
        " which must be empty or hold an unfinished run of this command (it then continues). The server must be"
        " stopped. Afterwards set database_url to the same URL and start the server on the same data folder.")
    common(parser)
    parser.add_argument("--to", required=True, metavar="URL", help="postgresql://… of the empty target database")
    parser.add_argument("--chunk-rows", type=int, default=5000,
                        help="rows copied per committed chunk (default 5000): an interrupted run resumes from the last")
    parser.set_defaults(func=lambda args: cmd_migrate_db(args, settings_of, with_store))


def cmd_migrate_db(args: argparse.Namespace, settings_of: SettingsOf, with_store: WithStore) -> int:
    """Copy, check the counts, then verify the audit chain on the copy."""
    import psycopg

    from qasid.store.postgres.from_sqlite import MigrateDbError, import_sqlite

    settings = settings_of(args)
    if settings.database_url:
        raise SettingsError("database_url is set: this data folder already runs on PostgreSQL; migrate-db copies"
                            " from the SQLite database, so unset database_url (QASID_DATABASE_URL) to run it")
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise SettingsError("--to must be a postgresql:// URL")
    if args.chunk_rows < 1:
        raise SettingsError("--chunk-rows must be at least 1")

    def progress(table: str, copied: int, total: int, finished: bool) -> None:
        print(f"\r{table}: {copied}/{total} rows", end="\n" if finished else "", file=sys.stderr, flush=True)

    try:
        with no_server_running(settings.data_dir):
            result = import_sqlite(settings.database_path, args.to, chunk_rows=args.chunk_rows, progress=progress)
    except MigrateDbError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except psycopg.Error as e:
        print(f"error: PostgreSQL at --to: {str(e).strip()}", file=sys.stderr)
        return 1
    if result.already_done:
        print("this PostgreSQL database already holds a finished copy of this SQLite database: nothing to do")
        return 0
    rate = result.rows / result.seconds if result.seconds else 0.0
    print(f"{'resumed and copied' if result.resumed else 'copied'} {result.rows} rows of {len(result.copied)} tables"
          f" in {result.seconds:.1f} s ({rate:.0f} rows/s); row counts match")
    return _verify_audit(dataclasses.replace(settings, database_url=args.to), with_store)


def _verify_audit(settings: Settings, with_store: WithStore) -> int:
    from qasid.core.clock import Clock
    from qasid.gov.audit import AuditLog

    async def work(store: Any, accounts: Any) -> Any:
        return await AuditLog(store.audit, Clock()).verify()

    result = asyncio.run(with_store(settings, work))
    if not result.ok:
        print(f"error: the audit chain does not verify on PostgreSQL, at entry {result.first_broken_seq}:"
              f" {result.reason}", file=sys.stderr)
        return 1
    print(f"audit log intact on PostgreSQL: {result.entries_checked} entries, head {result.head_seq}:{result.head_hash}")
    print(f"now set database_url (QASID_DATABASE_URL) to this URL and start the server on data folder {settings.data_dir}")
    return 0
