"""`qasid admin unit|policy|enroll|official …`: the admin API's operations on the command line.

They act on the database directly, as the operator (a national admin), so they work with or
without a running server. A running server sees every change on its next request: it reads
tokens, suspension and deactivation from the store each time. Only room leaves of an offboarding
need the server (only it may append events): they are queued and its maintenance loop finishes
them within seconds, or at its next start.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from qasid.config import Settings
from qasid.core.errors import MatrixError
from qasid.core.ids import is_user_id
from qasid.gov.audit import OPERATOR
from qasid.gov.enrollment import token_json
from qasid.gov.government import Government
from qasid.gov.org import unit_json
from qasid.gov.rules import policy_key_table
from qasid.gov.scope import AdminScope

Work = Callable[[Government, AdminScope, argparse.Namespace], Awaitable[Any]]


def _run(settings: Settings, work: Work, args: argparse.Namespace,
         columns: tuple[str, ...] | None = None, failed: Callable[[Any], bool] | None = None) -> int:
    from qasid.core.services import build_services

    async def main() -> Any:
        services = build_services(settings)
        try:
            gov = Government(services, live=False)
            services.install_policy(gov.policy)
            return await work(gov, AdminScope(OPERATOR, None, source_ip="cli"), args)
        finally:
            services.close()

    try:
        result = asyncio.run(main())
    except MatrixError as e:
        print(f"error: {e.errcode}: {e.message}", file=sys.stderr)
        return 1
    if columns is not None and not args.json:
        print_table(result, columns)
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 1 if failed is not None and failed(result) else 0


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """The one readable form of every list command: a header, then a row per item in aligned columns."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        print("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "".join(c if c.isprintable() else "?" for c in text)


def user_id_arg(value: str, server_name: str) -> str:
    """A full user ID from the command line; anything else is refused with the likely one."""
    if is_user_id(value):
        return value
    localpart = value.lstrip("@").split(":", 1)[0] or "name"
    raise MatrixError(400, "M_INVALID_PARAM", f"{value!r} is not a user ID; did you mean @{localpart}:{server_name}?")


def _user(gov: Government, value: str) -> str:
    return user_id_arg(value, gov.services.settings.server_name)


def _unit_id(gov: Government, scope: AdminScope, code: str) -> int:
    return gov.org.unit_by_code_in_scope(scope, code).unit_id


async def _unit_create(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    parent = _unit_id(gov, scope, a.parent) if a.parent else None
    return unit_json(await gov.create_unit(scope, parent, a.code, a.name))


async def _unit_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return [unit_json(u) for u in gov.org.list_units(scope)]


async def _grant_admin(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    await gov.lifecycle.set_admin_role(scope, user_id, _unit_id(gov, scope, a.unit), not a.revoke)
    return {"user_id": user_id, "unit": a.unit, "admin": not a.revoke}


async def _policy_show(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    unit_id = _unit_id(gov, scope, a.unit)
    return {"own": gov.org.unit_policy_values(unit_id), "effective": gov.org.policy_of_unit(unit_id)}


async def _policy_set(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    unit_id = _unit_id(gov, scope, a.unit)
    values: dict[str, Any] = {}
    for item in a.settings:
        key, sep, raw = item.partition("=")
        if not sep:
            raise MatrixError(400, "M_INVALID_PARAM", f"expected KEY=VALUE, got {item!r}")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw  # a bare word, e.g. invite_scope=ministry
    own = await gov.set_unit_policy(scope, unit_id, values)
    return {"own": own, "effective": gov.org.policy_of_unit(unit_id)}


async def _token_create(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    body = {"unit_id": _unit_id(gov, scope, a.unit), "uses_allowed": a.uses, "expiry_days": a.expiry_days,
            "person_name": a.person, "designation": a.designation}
    token, issued = await gov.enrollment.issue_token(scope, body)
    return token_json(issued, token)


async def _token_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return [token_json(t) for t in gov.enrollment.list_tokens(scope)]


async def _token_revoke(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    await gov.enrollment.revoke_token(scope, a.token)
    return {"revoked": True}


async def _official_create(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    body = {"unit_id": _unit_id(gov, scope, a.unit), "username": a.username, "designation": a.designation,
            "displayname": a.displayname, "password": a.password}
    return {"user_id": await gov.enrollment.create_official(scope, body)}


async def _official_import(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    text = Path(a.csv_file).read_text(encoding="utf-8")  # a missing file: OSError, one line from main
    return await gov.enrollment.import_csv(scope, text, all_or_nothing=a.all_or_nothing)


async def _official_show(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    return {**await gov.lifecycle.describe(scope, user_id), "devices": await gov.lifecycle.devices(scope, user_id)}


async def _official_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return gov.lifecycle.list_officials(scope, _unit_id(gov, scope, a.unit) if a.unit else None)


async def _offboard(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id, _ = await gov.lifecycle.official_in_scope(scope, _user(gov, a.user_id))
    if not a.yes:
        if not sys.stdin.isatty():
            raise MatrixError(400, "M_INVALID_PARAM", "offboarding can't be undone: pass --yes to confirm it"
                                                      " (there is no terminal to ask on)")
        answer = input(f"Offboard {user_id}? It can't be undone. Type the user ID to confirm: ")
        if answer.strip() != user_id:
            raise MatrixError(400, "M_INVALID_PARAM", "not confirmed; nothing changed")
    return await gov.lifecycle.offboard(scope, user_id)


async def _suspend(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    await gov.lifecycle.set_suspended(scope, user_id, True)
    return {"user_id": user_id, "locked": True}


async def _unsuspend(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    await gov.lifecycle.set_suspended(scope, user_id, False)
    return {"user_id": user_id, "locked": False}


async def _read_only(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    await gov.lifecycle.set_read_only(scope, user_id, not a.lift)
    return {"user_id": user_id, "read_only": not a.lift}


async def _sign_out(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id = _user(gov, a.user_id)
    await gov.lifecycle.sign_out_device(scope, user_id, a.device_id)
    return {"user_id": user_id, "device_id": a.device_id, "signed_out": True}


async def _set_password(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    user_id, _ = await gov.lifecycle.official_in_scope(scope, _user(gov, a.user_id))
    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {user_id}: ")
        if getpass.getpass("Again: ") != password:
            raise MatrixError(400, "M_INVALID_PARAM", "the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    await gov.lifecycle.set_password(scope, user_id, password)
    return {"user_id": user_id, "password_set": True}


async def _clearance(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return await gov.clearance.set_clearance(scope, _user(gov, a.user_id), a.level)


async def _report_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    resolved = None if a.state == "all" else a.state == "resolved"
    return gov.reports.list_reports(scope, after_id=a.after, limit=a.limit, resolved=resolved)


async def _report_show(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return await gov.reports.show(scope, a.report_id)


async def _report_resolve(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return await gov.reports.resolve(scope, a.report_id)


async def _policy_keys(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return policy_key_table()


def add_gov_parsers(admin_sub: Any, common: Callable[[argparse.ArgumentParser], None],
                    settings: Callable[[argparse.Namespace], Settings]) -> None:
    """Register the government commands under `qasid admin`."""

    def command(parent: Any, name: str, help_text: str, work: Work, columns: tuple[str, ...] | None = None,
                failed: Callable[[Any], bool] | None = None) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
        common(parser)
        if columns is not None:
            parser.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
        parser.set_defaults(func=lambda args: _run(settings(args), work, args, columns, failed))
        return parser

    def group(name: str, help_text: str) -> Any:
        return admin_sub.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_command", required=True)

    unit = group("unit", "the organisation tree")
    p = command(unit, "create", "create a unit (a ministry without --parent)", _unit_create)
    p.add_argument("--code", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--parent", help="the parent unit's code")
    command(unit, "list", "list units", _unit_list, ("unit_id", "code", "parent_id", "name"))
    p = command(unit, "admin", "make an account an admin of a unit's subtree", _grant_admin)
    p.add_argument("--unit", required=True, help="unit code")
    p.add_argument("--revoke", action="store_true")
    p.add_argument("user_id")

    policy = group("policy", "per-unit policy, inherited down the tree; a unit may only tighten its parents'")
    p = command(policy, "show", "the unit's own keys and the policy in force there", _policy_show)
    p.add_argument("--unit", required=True, help="unit code")
    p = command(policy, "set", "set keys, e.g. invite_scope=ministry retention_days=30 (null: inherit);"
                " `qasid admin policy keys` lists them", _policy_set)
    p.add_argument("--unit", required=True, help="unit code")
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    command(policy, "keys", "every policy key: its type, which way is stricter, its default", _policy_keys,
            ("key", "type", "stricter", "default"))

    enroll = group("enroll", "enrollment tokens bound to a unit")
    p = command(enroll, "create", "issue a token and print it (the only time it is shown)", _token_create)
    p.add_argument("--unit", required=True, help="unit code")
    p.add_argument("--uses", type=int, default=1, help="how many enrollments it allows (at least 1; default 1)")
    p.add_argument("--expiry-days", type=float, default=7.0)
    p.add_argument("--person", help="the named person: their display name")
    p.add_argument("--designation")
    command(enroll, "list", "list tokens by ID (token_id), with uses and expiry", _token_list,
            ("token_id", "unit_id", "uses_allowed", "pending", "completed", "expiry_time", "person_name"))
    p = command(enroll, "revoke", "revoke a token", _token_revoke)
    p.add_argument("token", help="its token_id from `enroll list`, or the token itself")

    official = group("official", "officials: create, import, suspend, offboard, passwords, devices")
    p = command(official, "create", "create an account in a unit", _official_create)
    p.add_argument("--unit", required=True, help="unit code")
    p.add_argument("--username", required=True)
    p.add_argument("--designation", default="")
    p.add_argument("--displayname")
    p.add_argument("--password", help="omit: the official gets one later (official set-password)")
    p = command(official, "import", "import a CSV of unit code, username, display name, designation (a header"
                " row is allowed); exit 1 if any row is refused", _official_import,
                failed=lambda report: bool(report["refused"]))
    p.add_argument("csv_file")
    p.add_argument("--all-or-nothing", action="store_true", help="create no account at all if any row is refused")
    p = command(official, "list", "list officials with their state (active, suspended, offboarded)",
                _official_list, ("user_id", "unit_id", "designation", "state", "clearance"))
    p.add_argument("--unit", help="unit code")
    for name, help_text, work in (("show", "an official and their devices", _official_show),
                                  ("suspend", "lock the account (M_USER_LOCKED)", _suspend),
                                  ("unsuspend", "lift a suspension", _unsuspend),
                                  ("set-password", ("set a password (asked twice on a terminal, else one line"
                                                    " of stdin), e.g. for an imported official"), _set_password)):
        command(official, name, help_text, work).add_argument("user_id")
    p = command(official, "read-only", "let the official read but not write (the spec's suspension:"
                " M_USER_SUSPENDED)", _read_only)
    p.add_argument("user_id")
    p.add_argument("--lift", action="store_true", help="lift it instead")
    p = command(official, "offboard", "revoke everything, leave every room, for good (asks first)", _offboard)
    p.add_argument("user_id")
    p.add_argument("--yes", action="store_true", help="don't ask (required when not on a terminal)")
    p = command(official, "clearance", "set the classification level an official is cleared to (one of the"
                " classification_levels setting); a lower one removes them from the rooms above it", _clearance)
    p.add_argument("user_id")
    p.add_argument("level")
    p = command(official, "sign-out", "sign one device out", _sign_out)
    p.add_argument("user_id")
    p.add_argument("device_id")

    report = group("report", "reports of events, rooms and users, filed under the reported official's unit")
    p = command(report, "list", "list reports, oldest first", _report_list,
                ("report_id", "time", "kind", "reporter", "reported_user", "unit_id", "resolved_by", "reason"))
    p.add_argument("--state", choices=("open", "resolved", "all"), default="open")
    p.add_argument("--after", type=int, default=0, help="list reports after this report_id")
    p.add_argument("--limit", type=int, default=100)
    for name, help_text, work in (("show", "one report (an event's metadata, never its content)", _report_show),
                                  ("resolve", "mark a report handled (recorded in the audit log)", _report_resolve)):
        command(report, name, help_text, work).add_argument("report_id", type=int)
