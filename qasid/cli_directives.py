"""`qasid admin directive create|list|status|remind`: directives on the command line.

Like the other admin commands they act on the database as the operator (a national admin). Only the
running server may append events, so a directive created here gets its room, and a reminder asked
for here is sent, by the server's maintenance round within seconds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from qasid.cli_gov import _run, _unit_id, _user
from qasid.config import Settings
from qasid.core.errors import MatrixError
from qasid.gov.government import Government
from qasid.gov.scope import AdminScope


def _deadline_ms(a: argparse.Namespace) -> int:
    if a.hours is not None:
        return int((time.time() + a.hours * 3600) * 1000)
    try:
        moment = datetime.fromisoformat(a.deadline)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"--deadline {a.deadline!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def _create(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    body = {"title": a.title, "unit_ids": [_unit_id(gov, scope, code) for code in a.unit],
            "deadline_ts": _deadline_ms(a)}
    return await gov.directives.create(scope, body, issuer=_user(gov, a.issuer))


async def _list(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return gov.directives.list_directives(scope)


async def _status(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return gov.directives.status(scope, a.directive_id)


async def _remind(gov: Government, scope: AdminScope, a: argparse.Namespace) -> Any:
    return await gov.directives.remind(scope, a.directive_id)


def add_directive_parsers(admin_sub: Any, common: Callable[[argparse.ArgumentParser], None],
                          settings: Callable[[argparse.Namespace], Settings]) -> None:
    """Register `qasid admin directive …`."""
    directive = admin_sub.add_parser("directive", help="directives to units: issue, list, status, remind")
    sub = directive.add_subparsers(dest="directive_command", required=True)

    p = sub.add_parser("create", help="issue a directive in an official's name (the server makes its room)")
    common(p)
    p.add_argument("--issuer", required=True, help="the issuing official's user ID: their client writes the text")
    p.add_argument("--unit", required=True, action="append", help="a target unit's code (repeat for more)")
    p.add_argument("--title", required=True, help="shown as the room's name 'Directive: <title>'; the server keeps it")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--deadline", help="ISO 8601 time, e.g. 2026-12-01T17:00 (UTC unless an offset is given)")
    when.add_argument("--hours", type=float, help="deadline this many hours from now")
    p.set_defaults(func=lambda args: _run(settings(args), _create, args))

    p = sub.add_parser("list", help="directives with their deadline and room")
    common(p)
    p.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
    p.set_defaults(func=lambda args: _run(settings(args), _list, args,
                                          ("directive_id", "title", "issuer", "deadline", "room_id")))

    p = sub.add_parser("status", help="per unit and per official: acknowledged, read only, not read (JSON)")
    common(p)
    p.add_argument("directive_id")
    p.set_defaults(func=lambda args: _run(settings(args), _status, args))

    p = sub.add_parser("remind", help="remind everyone who has not acknowledged (sent by the server within seconds)")
    common(p)
    p.add_argument("directive_id")
    p.set_defaults(func=lambda args: _run(settings(args), _remind, args))
