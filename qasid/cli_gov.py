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
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from qasid.config import Settings
from qasid.core.errors import MatrixError
from qasid.gov.audit import OPERATOR
from qasid.gov.enrollment import token_json
from qasid.gov.government import Government
from qasid.gov.org import unit_json
from qasid.gov.scope import AdminScope

Work = Callable[[Government, AdminScope, argparse.Namespace], Awaitable[Any]]


def _run(settings: Settings, work: Work, args: argparse.Namespace) -> int:
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
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _unit_id(gov: Government, scope: AdminScope, code: str) -> int:
    return gov.org.unit_by_code_in_scope(scope, code).unit_id


async def _unit_create(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    parent = _unit_id(gov, scope, a.parent) if a.parent else None
    unit = await gov.org.create_unit(scope, parent, a.code, a.name)
    await gov.audit.record(actor=scope.user_id, source_ip="cli", action="unit.create", target=unit.code,
                           unit_id=unit.unit_id, details=unit_json(unit))
    return unit_json(unit)


async def _unit_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return [unit_json(u) for u in gov.org.list_units(scope)]


async def _grant_admin(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    await gov.lifecycle.set_admin_role(scope, a.user_id, _unit_id(gov, scope, a.unit), not a.revoke)
    return {"user_id": a.user_id, "unit": a.unit, "admin": not a.revoke}


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
    own = await gov.org.set_unit_policy(scope, unit_id, values, replace=False)
    await gov.audit.record(actor=scope.user_id, source_ip="cli", action="policy.change", target=a.unit,
                           unit_id=unit_id, details=values)
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
    return await gov.enrollment.import_csv(scope, Path(a.csv_file).read_text(encoding="utf-8"))


async def _official_show(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return {**await gov.lifecycle.describe(scope, a.user_id), "devices": await gov.lifecycle.devices(scope, a.user_id)}


async def _official_list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return gov.lifecycle.list_officials(scope, _unit_id(gov, scope, a.unit) if a.unit else None)


async def _offboard(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return await gov.lifecycle.offboard(scope, a.user_id)


async def _suspend(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    await gov.lifecycle.set_suspended(scope, a.user_id, True)
    return {"user_id": a.user_id, "locked": True}


async def _unsuspend(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    await gov.lifecycle.set_suspended(scope, a.user_id, False)
    return {"user_id": a.user_id, "locked": False}


async def _sign_out(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    await gov.lifecycle.sign_out_device(scope, a.user_id, a.device_id)
    return {"user_id": a.user_id, "device_id": a.device_id, "signed_out": True}


def add_gov_parsers(admin_sub: Any, common: Callable[[argparse.ArgumentParser], None],
                    settings: Callable[[argparse.Namespace], Settings]) -> None:
    """Register the government commands under `qasid admin`."""

    def command(parent: Any, name: str, help_text: str, work: Work) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        common(parser)
        parser.set_defaults(func=lambda args: _run(settings(args), work, args))
        return parser

    def group(name: str, help_text: str) -> Any:
        return admin_sub.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_command", required=True)

    unit = group("unit", "the organisation tree")
    p = command(unit, "create", "create a unit (a ministry without --parent)", _unit_create)
    p.add_argument("--code", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--parent", help="the parent unit's code")
    command(unit, "list", "list units", _unit_list)
    p = command(unit, "admin", "make an account an admin of a unit's subtree", _grant_admin)
    p.add_argument("--unit", required=True, help="unit code")
    p.add_argument("--revoke", action="store_true")
    p.add_argument("user_id")

    policy = group("policy", "per-unit policy, inherited down the tree")
    p = command(policy, "show", "the unit's own keys and the policy in force there", _policy_show)
    p.add_argument("--unit", required=True)
    p = command(policy, "set", "set keys, e.g. invite_scope=ministry retention_days=30 (null: inherit)", _policy_set)
    p.add_argument("--unit", required=True)
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE")

    enroll = group("enroll", "enrollment tokens bound to a unit")
    p = command(enroll, "create", "issue a token and print it (the only time it is shown)", _token_create)
    p.add_argument("--unit", required=True)
    p.add_argument("--uses", type=int, default=1)
    p.add_argument("--expiry-days", type=float, default=7.0)
    p.add_argument("--person", help="the named person: their display name")
    p.add_argument("--designation")
    command(enroll, "list", "list tokens by ID (token_id), with uses and expiry", _token_list)
    p = command(enroll, "revoke", "revoke a token", _token_revoke)
    p.add_argument("token", help="its token_id from `enroll list`, or the token itself")

    official = group("official", "officials: create, import, suspend, offboard, devices")
    p = command(official, "create", "create an account in a unit", _official_create)
    p.add_argument("--unit", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--designation", default="")
    p.add_argument("--displayname")
    p.add_argument("--password", help="omit: the official gets one later")
    p = command(official, "import", "import a CSV of unit code, username, display name, designation", _official_import)
    p.add_argument("csv_file")
    p = command(official, "list", "list officials", _official_list)
    p.add_argument("--unit")
    for name, help_text, work in (("show", "an official and their devices", _official_show),
                                  ("offboard", "revoke everything, leave every room, for good", _offboard),
                                  ("suspend", "lock the account (M_USER_LOCKED)", _suspend),
                                  ("unsuspend", "lift a suspension", _unsuspend)):
        command(official, name, help_text, work).add_argument("user_id")
    p = command(official, "sign-out", "sign one device out", _sign_out)
    p.add_argument("user_id")
    p.add_argument("device_id")
