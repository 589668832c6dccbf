"""The `qasid` command: serve, and the operator's admin commands."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from qasid.config import Settings, describe_settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        config_file=Path(args.config) if args.config else None,
        server_name=getattr(args, "server_name", None),
        bind_host=getattr(args, "host", None),
        bind_port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
    )


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
    import uvicorn

    from qasid.app import create_app

    settings = _settings(args)
    _return_large_buffers_to_the_os()
    app = create_app(settings)
    print(f"qasid serving {settings.server_name} on http://{settings.bind_host}:{settings.bind_port}"
          f" (data in {settings.data_dir})", flush=True)
    uvicorn.run(
        app, host=settings.bind_host, port=settings.bind_port, loop="uvloop", http="httptools",
        log_level=settings.log_level, access_log=False, lifespan="on", ws="none", server_header=False,
        date_header=False, timeout_graceful_shutdown=5,
    )
    return 0


async def _with_store(settings: Settings, work: Any) -> Any:
    from qasid.core.accounts import AccountService
    from qasid.core.clock import Clock
    from qasid.core.ratelimit import RateLimiter
    from qasid.store.datadir import prepare_data_dir
    from qasid.store.sqlite import SqliteStore

    class _Quiet:
        def devices_changed(self, user_id: str) -> None:
            return None

    prepare_data_dir(settings.data_dir)
    store = SqliteStore(settings.database_path)
    try:
        accounts = AccountService(settings, store.accounts, Clock(), RateLimiter({}, enabled=False), _Quiet())
        return await work(store, accounts)
    finally:
        store.close()


def cmd_create_user(args: argparse.Namespace) -> int:
    async def work(store: Any, accounts: Any) -> str:
        return await accounts.create_user(args.username, args.password, is_admin=args.admin)  # type: ignore[no-any-return]

    user_id = asyncio.run(_with_store(_settings(args), work))
    print(user_id)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from qasid.core.accounts import hash_token

    token = args.token or secrets.token_urlsafe(18)
    expiry = int((time.time() + args.expiry_days * 86400) * 1000) if args.expiry_days else None

    async def work(store: Any, accounts: Any) -> bool:
        return await store.accounts.create_registration_token(  # type: ignore[no-any-return]
            hash_token(token), args.uses, expiry, int(time.time() * 1000))

    if not asyncio.run(_with_store(_settings(args), work)):
        print("error: that token already exists", file=sys.stderr)
        return 1
    _audit_operator(args, "registration_token.issued", hash_token(token), uses=args.uses, expiry_ts=expiry)
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
        if token_hash is None or not await store.accounts.delete_registration_token(token_hash):
            return None
        return token_hash

    token_hash = asyncio.run(_with_store(_settings(args), work))
    if token_hash is None:
        print("error: no such token", file=sys.stderr)
        return 1
    _audit_operator(args, "registration_token.revoked", token_hash)
    print(f"revoked {_token_id(token_hash)}")
    return 0


def _token_id(token_hash: bytes) -> str:
    from qasid.core.audit_sink import token_id

    return token_id(token_hash)


def _audit_operator(args: argparse.Namespace, action: str, token_hash: bytes, **details: Any) -> None:
    from qasid.core.clock import Clock
    from qasid.gov.audit import OPERATOR, AuditLog

    async def work(store: Any, accounts: Any) -> None:
        await AuditLog(store.audit, Clock()).record(
            actor=OPERATOR, action=action, details={"token": _token_id(token_hash), **details})

    asyncio.run(_with_store(_settings(args), work))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from qasid.core.clock import Clock
    from qasid.gov.audit import AuditLog

    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("error: --anchor must be SEQ:HASH (a seq and a 64-hex entry hash)", file=sys.stderr)
            return 2
        anchor = (int(seq), digest.lower())

    async def work(store: Any, accounts: Any) -> Any:
        return await AuditLog(store.audit, Clock()).verify(anchor)

    result = asyncio.run(_with_store(_settings(args), work))
    if not result.ok:
        print(f"audit log BROKEN at entry {result.first_broken_seq}: {result.reason}", file=sys.stderr)
        print(f"entries verified before it: {result.entries_checked}", file=sys.stderr)
        return 1
    print(f"audit log intact: {result.entries_checked} entries")
    print(f"head: {result.head_seq}:{result.head_hash}  (keep this elsewhere; check later with --anchor)")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from qasid.core import jsonutil
    from qasid.core.clock import Clock
    from qasid.gov.audit import AuditLog, format_line

    async def work(store: Any, accounts: Any) -> Any:
        return await AuditLog(store.audit, Clock()).entries(
            unit_ids=None, after_seq=args.after, limit=args.limit, action=args.action,
            actor=args.actor, target=args.target, unit_id=args.unit)

    for entry in asyncio.run(_with_store(_settings(args), work)):
        print(jsonutil.dumps(entry).decode() if args.json else format_line(entry))
    return 0


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
    _audit_parsers(admin_sub)
    from qasid.cli_gov import add_gov_parsers

    add_gov_parsers(admin_sub, _common, _settings)
    return parser


def _audit_parsers(admin_sub: Any) -> None:
    audit = admin_sub.add_parser("audit", help="the hash-chained audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="recompute the chain; exit 0 if intact, 1 naming the first broken entry")
    _common(verify)
    verify.add_argument("--anchor", help="SEQ:HASH printed by an earlier verify: also prove the log still extends it")
    verify.set_defaults(func=cmd_audit_verify)
    alist = audit_sub.add_parser(
        "list", help="entries, one per line: seq, UTC time, actor[/device], action, target, source, unit, details"
        " (tab-separated; control characters appear escaped as \\n, \\xHH, \\uHHHH)")
    _common(alist)
    alist.add_argument("--after", type=int, default=0, help="only entries after this seq")
    alist.add_argument("--limit", type=int, default=1000, help="at most this many (default and maximum 1000)")
    alist.add_argument("--action", help="only this action, e.g. login.failed")
    alist.add_argument("--actor", help="only this actor")
    alist.add_argument("--target", help="only this target")
    alist.add_argument("--unit", type=int, help="only entries filed under this unit ID")
    alist.add_argument("--json", action="store_true", help="one JSON object per line")
    alist.set_defaults(func=cmd_audit_list)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data folder (default ./qasid-data)")
    parser.add_argument("--server-name", help="the Matrix server name (default localhost)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
