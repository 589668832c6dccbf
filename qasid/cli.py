"""The `qasid` command: serve, and the operator's admin commands."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import socket
import sys
import time
from pathlib import Path
from typing import Any

from qasid.config import Settings, SettingsError, describe_settings
from qasid.config_loading import load_settings
from qasid.core.clock import new_registration_token
from qasid.core.errors import MatrixError
from qasid.store.backup import BackupError
from qasid.store.sqlite.engine import MigrationError


def _settings(args: argparse.Namespace) -> Settings:
    """The settings for a command, its data folder made absolute and named on stderr.

    Only `qasid serve` (its first start) and a command given --init may create the data folder:
    anywhere else a missing one is an error, not a new empty database.
    """
    settings = load_settings(
        config_file=Path(args.config) if args.config else None,
        server_name=getattr(args, "server_name", None),
        bind_host=getattr(args, "host", None),
        bind_port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
    )
    settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
    # The folder's mark of a server: its SQLite file, or with PostgreSQL its signing key.
    mark = settings.signing_key_path if settings.database_url else settings.database_path
    initialised = mark.is_file()
    if not initialised and args.command != "serve" and not getattr(args, "init", False):
        why = "does not exist" if not settings.data_dir.exists() else f"holds no {mark.name}"
        raise SettingsError(
            f"data folder {settings.data_dir} {why}; point --data-dir (or QASID_DATA_DIR, or data_dir in"
            f" qasid.toml) at the server's data folder, or pass --init to create a new one")
    if not getattr(args, "data_dir_shown", False):
        print(f"qasid: data folder {settings.data_dir}" + ("" if initialised else " (new)"), file=sys.stderr)
        args.data_dir_shown = True
    return settings


def _return_large_buffers_to_the_os() -> None:
    # Every password hash allocates argon2id's 19 MiB in a worker thread. glibc's adaptive mmap
    # threshold would soon serve those from per-thread arenas that never shrink (~19 MiB kept per
    # thread); a fixed threshold keeps large buffers mmapped, so they go back to the OS when freed.
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    from qasid.api.transport import run as serve_http
    from qasid.app import create_app
    from qasid.logs import configure_logging
    from qasid.ops.limits import raise_open_files_limit

    settings = _settings(args)
    if args.workers is not None:
        from qasid.ops.supervisor import check_workers, supervise

        check_workers(settings, args.workers)
        if args.workers > 1:
            return supervise(settings, args.workers, _worker_args(args))
    _return_large_buffers_to_the_os()
    configure_logging(settings)
    tls = _tls_context(settings)
    app = create_app(settings)
    from qasid.store.datadir import hold_serving_lock

    hold_serving_lock(settings.data_dir)  # `qasid admin migrate-db` refuses while it is held
    # Once the data folder and settings are known good (a refusal is then the only line printed),
    # before the first connection is accepted.
    raise_open_files_limit()
    if settings.metrics_bind and args.worker_index == 0:  # one metrics listener per host: the first worker's
        from qasid.metrics import serve_metrics

        serve_metrics(settings.metrics_bind, app)
    scheme = "https" if tls is not None else "http"
    print(f"qasid serving {settings.server_name} on {scheme}://{settings.bind_host}:{settings.bind_port}"
          f" (data folder {settings.data_dir})", flush=True)
    if not settings.turn_uris:
        print("qasid: no TURN relay is configured (turn_uris, turn_shared_secret): calls between officials"
              " behind NAT will fail until one is (see `qasid turn-config`)", flush=True)
    # A worker of `--workers N` serves the supervisor's socket (its family read from the descriptor).
    sock = socket.socket(fileno=args.socket_fd) if args.socket_fd is not None else None
    return serve_http(app, app.services.notifier, host=settings.bind_host, port=settings.bind_port, sock=sock,
                      ssl_context=tls, on_stop=app.begin_shutdown)


def _worker_args(args: argparse.Namespace) -> list[str]:
    """The command line of one worker: this `serve`, less --workers."""
    given = [("--config", args.config), ("--data-dir", args.data_dir), ("--server-name", args.server_name),
             ("--host", args.host), ("--port", args.port)]
    config = ["--config", args.config] if args.config else []
    return [*config, "serve", *(str(v) for flag, value in given[1:] if value is not None for v in (flag, value))]


def _tls_context(settings: Settings) -> Any:
    """The TLS context to serve HTTPS with (reloaded on SIGHUP), or None for plain HTTP."""
    if not settings.tls_certificate:
        return None
    from qasid.tls import TlsError, reload_on_sighup, server_context

    certificate, private_key = Path(settings.tls_certificate), Path(settings.tls_private_key)
    try:
        context = server_context(certificate, private_key)
    except TlsError as e:
        raise SettingsError(str(e)) from None
    reload_on_sighup(context, certificate, private_key)
    return context


async def _with_store(settings: Settings, work: Any) -> Any:
    from qasid.core.accounts import AccountService
    from qasid.core.clock import Clock
    from qasid.core.ratelimit import RateLimiter
    from qasid.core.services import check_server_name
    from qasid.gov.audit import AuditLog
    from qasid.store.datadir import prepare_data_dir
    from qasid.store import open_store

    class _Quiet:
        def devices_changed(self, user_id: str) -> None:
            return None

    prepare_data_dir(settings.data_dir)
    store = open_store(settings)
    try:
        check_server_name(store, settings)
        accounts = AccountService(settings, store.accounts, Clock(), RateLimiter({}, enabled=False), _Quiet(),
                                  audit=AuditLog(store.audit, Clock()))
        return await work(store, accounts)
    finally:
        store.close()


def cmd_create_user(args: argparse.Namespace) -> int:
    from qasid.gov.audit import OPERATOR

    async def work(store: Any, accounts: Any) -> str:
        return await accounts.create_user(  # type: ignore[no-any-return]
            args.username, args.password, is_admin=args.admin, actor=OPERATOR)

    user_id = asyncio.run(_with_store(_settings(args), work))
    print(user_id)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from qasid.core.device_sessions import hash_token

    if args.uses < 1:
        raise SettingsError(f"--uses must be at least 1 (got {args.uses}): a token nobody can use is no token")
    if args.expiry_days < 0:
        raise SettingsError(f"--expiry-days must be 0 (never expires) or more (got {args.expiry_days})")
    token = args.token or new_registration_token()
    expiry = int((time.time() + args.expiry_days * 86400) * 1000) if args.expiry_days else None

    async def work(store: Any, accounts: Any) -> bool:
        issued = _operator_entry(store, "registration_token.issued", hash_token(token), uses=args.uses,
                                 expiry_ts=expiry)
        return await store.accounts.create_registration_token(  # type: ignore[no-any-return]
            hash_token(token), args.uses, expiry, int(time.time() * 1000), also=[issued])

    if not asyncio.run(_with_store(_settings(args), work)):
        print("error: that token already exists", file=sys.stderr)
        return 1
    # The only time the token is shown: the database keeps its hash.
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    async def work(store: Any, accounts: Any) -> Any:
        return await store.accounts.list_registration_tokens()

    for row in asyncio.run(_with_store(_settings(args), work)):
        uses = "unlimited" if row.uses_allowed is None else f"{row.completed}/{row.uses_allowed}"
        expiry = ("never" if row.expiry_time is None
                  else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.expiry_time / 1000)))
        print(f"{_token_id(row.token_hash)}\tuses={uses}\texpires={expiry}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def work(store: Any, accounts: Any) -> bytes | None:
        token_hash: bytes | None = await accounts.registration_token_hash(args.token)
        if token_hash is None or not await store.accounts.delete_registration_token(
                token_hash, also=[_operator_entry(store, "registration_token.revoked", token_hash)]):
            return None
        return token_hash

    token_hash = asyncio.run(_with_store(_settings(args), work))
    if token_hash is None:
        print("error: no such token", file=sys.stderr)
        return 1
    print(f"revoked {_token_id(token_hash)}")
    return 0


def _token_id(token_hash: bytes) -> str:
    from qasid.core.audit_sink import token_id

    return token_id(token_hash)


def _operator_entry(store: Any, action: str, token_hash: bytes, **details: Any) -> Any:
    """The operator's audit entry for a token action, to commit in the action's own transaction."""
    from qasid.core.clock import Clock
    from qasid.gov.audit import OPERATOR, AuditLog

    return AuditLog(store.audit, Clock()).prepare(
        actor=OPERATOR, action=action, details={"token": _token_id(token_hash), **details})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qasid", description="qasid: a sovereign Matrix homeserver")
    parser.add_argument("--config", help="path to qasid.toml (default: ./qasid.toml, or $QASID_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="run the homeserver",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (qasid.toml keys, or environment variables):\n" + describe_settings(),
    )
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8008)")
    serve.add_argument("--workers", type=int,
                       help="run N worker processes on one socket, restarting any that dies (needs database_url)")
    # Set by the supervisor for its workers: the inherited listening socket, and which worker this is.
    serve.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    admin = sub.add_parser("admin", help="operator commands (safe while the server runs)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create an account")
    _common(create)
    create.add_argument("--username", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true", help="make the account a server admin")
    create.set_defaults(func=cmd_create_user)

    token = admin_sub.add_parser("token", help="registration tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    tcreate = token_sub.add_parser(
        "create", help="create a registration token and print it (the only time it is shown: only its hash is kept)")
    _common(tcreate)
    tcreate.add_argument("--uses", type=int, default=1, help="how many registrations it allows (default 1)")
    tcreate.add_argument("--expiry-days", type=float, default=7.0, help="valid for this many days (0: never expires)")
    tcreate.add_argument("--token", help="use this token text instead of a random one")
    tcreate.set_defaults(func=cmd_token_create)
    tlist = token_sub.add_parser("list", help="list registration tokens by ID (sha256:…), with uses and expiry")
    _common(tlist)
    tlist.set_defaults(func=cmd_token_list)
    trevoke = token_sub.add_parser("revoke", help="revoke a registration token")
    _common(trevoke)
    trevoke.add_argument("token", help="the token's ID from `token list`, or the token itself")
    trevoke.set_defaults(func=cmd_token_revoke)
    from qasid.cli_audit import add_audit_parsers

    add_audit_parsers(admin_sub, _common, _settings, _with_store)
    from qasid.cli_calls import add_calls_parsers

    add_calls_parsers(sub)
    from qasid.cli_gov import add_gov_parsers

    add_gov_parsers(admin_sub, _common, _settings)
    from qasid.cli_directives import add_directive_parsers

    add_directive_parsers(admin_sub, _common, _settings)
    from qasid.cli_migrate_db import add_migrate_db_parser

    add_migrate_db_parser(admin_sub, _common, _settings, _with_store)
    from qasid.cli_ops import add_ops_parsers as add_data_ops_parsers
    from qasid.ops.cli import add_ops_parsers

    add_data_ops_parsers(admin_sub, _settings)
    add_ops_parsers(sub)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data folder (default ./qasid-data); it must exist except with --init")
    parser.add_argument("--server-name", help="the Matrix server name (default localhost)")
    if parser.prog.split()[1:2] != ["serve"]:
        parser.add_argument("--init", action="store_true", help="create the data folder if it doesn't exist")


def _mark_commands(parser: argparse.ArgumentParser) -> None:
    # Each command remembers its own parser, so a misspelled flag gets that command's usage.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(command_parser=child)
                _mark_commands(child)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is a one-line `error: …` on stderr and a non-zero exit."""
    parser = build_parser()
    _mark_commands(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MatrixError as e:
        print(f"error: {e.errcode}: {e.message}", file=sys.stderr)
        return 1
    except (BackupError, MigrationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
