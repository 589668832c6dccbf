"""`qasid admin audit …`: verify the chain (in the database or in an exported file), list, export, key."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qasid.config import Settings
from qasid.core.errors import MatrixError

# What `audit list --action` can match, by area.
AUDIT_ACTIONS = (
    ("accounts:   account.create account.bulk_import account.password_set account.suspend account.unsuspend"
     " account.read_only account.read_only_lifted account.password_change account.offboard membership.leave"
     " membership.leave_all"),
    ("sign-in:    login login.failed registration_token.redeemed console.sign_in console.sign_in.failed"
     " console.sign_out"),
    "devices:    device.added device.removed device.sign_out device.expire",
    ("tokens:     registration_token.issued registration_token.revoked enrollment_token.issue"
     " enrollment_token.revoke"),
    "tree:       unit.create unit.update admin_role.grant admin_role.revoke official.update policy.change",
    "log:        audit.verify audit.export retention.purge retention.media_purge",
)

SettingsOf = Callable[[argparse.Namespace], Settings]
WithStore = Callable[[Settings, Any], Any]


def cmd_audit_verify(args: argparse.Namespace, settings_of: SettingsOf, with_store: WithStore) -> int:
    """The chain in the database, or (--file) a signed export, offline."""
    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("error: --anchor must be SEQ:HASH (a seq and a 64-hex entry hash)", file=sys.stderr)
            return 2
        anchor = (int(seq), digest.lower())
    if args.file:
        return _verify_file(Path(args.file), args.key, anchor)
    if args.key:
        print("error: --key pins who signed an export: use it with --file", file=sys.stderr)
        return 2
    from qasid.core.clock import Clock
    from qasid.gov.audit import AuditLog

    async def work(store: Any, accounts: Any) -> Any:
        return await AuditLog(store.audit, Clock()).verify(anchor)

    result = asyncio.run(with_store(settings_of(args), work))
    if not result.ok:
        print(f"audit log BROKEN at entry {result.first_broken_seq}: {result.reason}", file=sys.stderr)
        print(f"entries verified before it: {result.entries_checked}", file=sys.stderr)
        return 1
    print(f"audit log intact: {result.entries_checked} entries")
    print(f"head: {result.head_seq}:{result.head_hash}  (keep this elsewhere; check later with --anchor)")
    return 0


def _verify_file(path: Path, key: str | None, anchor: tuple[int, str] | None) -> int:
    from qasid.gov.audit_export import verify_export

    try:
        document = json.loads(path.read_bytes())
    except ValueError as e:
        print(f"error: {path} is not JSON: {e}", file=sys.stderr)
        return 1
    result = verify_export(document, key, anchor)
    if not result.ok:
        where = f" at entry {result.first_broken_seq}" if result.first_broken_seq is not None else ""
        print(f"audit export BROKEN{where}: {result.reason}", file=sys.stderr)
        print(f"entries verified before it: {result.entries_checked}", file=sys.stderr)
        return 1
    print(f"audit export {result.reason}")
    if result.entries_checked:
        print(f"last: {result.head_seq}:{result.head_hash}  (verify the next export with --anchor)")
    if key is None:
        print("the key was read from the file itself: compare it with the server's (`qasid admin audit key`),"
              " or pass --key to check it", file=sys.stderr)
    return 0


def cmd_audit_export(args: argparse.Namespace, settings_of: SettingsOf, with_store: WithStore) -> int:
    """Write the log (or a time range of it) to a file signed with the server's key."""
    from qasid.core.clock import Clock
    from qasid.core.jsonutil import dumps
    from qasid.core.signing import load_signing_key
    from qasid.gov.audit import OPERATOR, AuditLog
    from qasid.gov.audit_export import export_signed, signing_identity

    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    settings = settings_of(args)
    try:
        key = load_signing_key(settings.signing_key_path)
    except FileNotFoundError:
        raise MatrixError(400, "M_NOT_FOUND", f"no signing key at {settings.signing_key_path}: the server makes"
                          " it on its first start") from None

    async def work(store: Any, accounts: Any) -> Any:
        return await export_signed(AuditLog(store.audit, Clock()), actor=OPERATOR, source_ip="cli", key=key,
                                   server_name=settings.server_name, since_ts=since, until_ts=until)

    try:
        document = asyncio.run(with_store(settings, work))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(dumps(document))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    manifest, identity = document["manifest"], signing_identity(settings.server_name, key)
    span = f" (entries {manifest['first_seq']} to {manifest['last_seq']})" if manifest["count"] else ""
    print(f"exported {manifest['count']} entries{span} to {out}")
    print(f"signed by {identity.server_name} with {identity.key_id}: {identity.public_key}")
    return 0


def cmd_audit_key(args: argparse.Namespace, settings_of: SettingsOf, with_store: WithStore) -> int:
    """The public key exports are signed with: give it to auditors, who pass it to verify --key."""
    from qasid.core.signing import load_signing_key
    from qasid.gov.audit_export import signing_identity

    settings = settings_of(args)
    try:
        key = load_signing_key(settings.signing_key_path)
    except FileNotFoundError:
        raise MatrixError(400, "M_NOT_FOUND", f"no signing key at {settings.signing_key_path}: the server makes"
                          " it on its first start") from None
    identity = signing_identity(settings.server_name, key)
    print(f"{identity.server_name} {identity.key_id} {identity.public_key}")
    return 0


def parse_time(value: str | None, flag: str) -> int | None:
    """Milliseconds since the epoch from a number of them, or an ISO date or time (UTC unless it says)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"{flag} must be a date (2025-03-01), a time"
                          f" (2025-03-01T09:30:00Z) or milliseconds since the epoch; got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def cmd_audit_list(args: argparse.Namespace, settings_of: SettingsOf, with_store: WithStore) -> int:
    """Entries, one per line (or JSON)."""
    from qasid.core import jsonutil
    from qasid.core.clock import Clock
    from qasid.gov.audit import OPERATOR, AuditLog, format_line

    settings = settings_of(args)
    actor = args.actor
    if actor is not None and not actor.startswith("@") and actor != OPERATOR:
        actor = f"@{actor}:{settings.server_name}"  # a bare localpart

    async def work(store: Any, accounts: Any) -> Any:
        unit_id = None
        if args.unit is not None:
            unit = store.gov.unit_by_code(args.unit)
            if unit is None:
                raise MatrixError(404, "M_NOT_FOUND", f"Unknown unit {args.unit!r} (--unit takes a unit code)")
            unit_id = unit.unit_id
        return await AuditLog(store.audit, Clock()).entries(
            unit_ids=None, after_seq=args.after, limit=args.limit, action=args.action,
            actor=actor, target=args.target, unit_id=unit_id)

    for entry in asyncio.run(with_store(settings, work)):
        print(jsonutil.dumps(entry).decode() if args.json else format_line(entry))
    return 0


def add_audit_parsers(admin_sub: Any, common: Callable[[argparse.ArgumentParser], None],
                      settings_of: SettingsOf, with_store: WithStore) -> None:
    """Register `qasid admin audit verify|list|export|key`."""
    audit = admin_sub.add_parser("audit", help="the hash-chained audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)

    def command(name: str, help_text: str, run: Callable[[argparse.Namespace, SettingsOf, WithStore], int],
                **extra: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = audit_sub.add_parser(name, help=help_text, **extra)
        common(parser)
        parser.set_defaults(func=lambda args: run(args, settings_of, with_store))
        return parser

    verify = command("verify", "recompute the chain (of the database, or of an exported --file, offline);"
                     " exit 0 if intact, 1 naming the first bad entry", cmd_audit_verify)
    verify.add_argument("--anchor", help="SEQ:HASH printed by an earlier verify: also prove the log (or the --file)"
                        " still extends it")
    verify.add_argument("--file", help="an export from `audit export`: verify it alone, no data folder needed")
    verify.add_argument("--key", help="with --file: the server's public key (from `audit key`) that must have signed it")
    export = command("export", "write the log to a file signed with the server's key (ed25519)", cmd_audit_export)
    export.add_argument("--out", required=True, help="the file to write")
    export.add_argument("--since", help="from this time: a date, an ISO time (UTC unless given) or ms since the epoch")
    export.add_argument("--until", help="before this time (same forms as --since)")
    command("key", "print the server name, key ID and public key exports are signed with", cmd_audit_key)
    alist = command(
        "list", "entries, one per line: seq, UTC time, actor[/device], action, target, source, unit, details"
        " (tab-separated; control characters appear escaped as \\n, \\xHH, \\uHHHH)", cmd_audit_list,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="actions:\n" + "\n".join(f"  {group}" for group in AUDIT_ACTIONS))
    alist.add_argument("--after", type=int, default=0, help="only entries after this seq")
    alist.add_argument("--limit", type=int, default=1000, help="at most this many (default and maximum 1000)")
    alist.add_argument("--action", help="only this action, e.g. login.failed (listed below)")
    alist.add_argument("--actor", help="only this actor: a user ID, a bare username, or operator (the CLI)")
    alist.add_argument("--target", help="only this target (a user ID, unit code or token fingerprint)")
    alist.add_argument("--unit", help="only entries filed under this unit (its code)")
    alist.add_argument("--json", action="store_true", help="one JSON object per line")
