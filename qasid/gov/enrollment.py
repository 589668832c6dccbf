"""Enrollment: unit-bound registration tokens, direct account creation, and CSV bulk import."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from qasid.core.accounts import AccountService
from qasid.core.audit_sink import AuditAppend, token_id, token_id_prefix
from qasid.core.clock import new_registration_token
from qasid.core.device_sessions import hash_token
from qasid.core.errors import MatrixError
from qasid.core.ids import default_displayname, make_user_id
from qasid.gov.audit import AuditLog
from qasid.gov.org import Organisation
from qasid.gov.rules import password_problem
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.gov import EnrollmentToken, ImportRaced

MAX_TOKEN_USES = 10_000
MAX_EXPIRY_DAYS = 365
MAX_IMPORT_ROWS = 20_000
MAX_TEXT = 200


def _text(value: Any, field: str, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise MatrixError(400, "M_MISSING_PARAM", f"{field} is required")
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise MatrixError(400, "M_INVALID_PARAM",
                          f"{field} must be a string of at most {MAX_TEXT} characters without control characters")
    return value.strip()


def token_json(token: EnrollmentToken, secret: str | None = None) -> dict[str, Any]:
    """How an enrollment token appears in the admin API: by its ID, and the token itself only when issued."""
    shown = {"token": secret} if secret is not None else {}
    return {
        **shown, "token_id": token_id(token.token_hash), "unit_id": token.unit_id,
        "person_name": token.person_name, "designation": token.designation, "issued_by": token.issued_by,
        "uses_allowed": token.uses_allowed, "completed": token.completed, "expiry_time": token.expiry_time,
    }


class Enrollment:
    """Brings officials in: tokens they redeem themselves, or accounts an admin creates."""

    def __init__(self, org: Organisation, accounts: AccountService, audit: AuditLog) -> None:
        self.org = org
        self.store = org.store
        self.accounts = accounts
        self.audit = audit
        # Called after accounts are created in a unit (directives keep their rooms in step).
        self.on_placement: Callable[[str], Awaitable[None]] | None = None

    async def issue_token(self, scope: AdminScope, body: dict[str, Any]) -> tuple[str, EnrollmentToken]:
        """A registration token bound to a unit (and optionally a person and designation).

        Returns the token, which is never stored (only its hash) and so can't be shown again.
        """
        unit = self.org.unit_in_scope(scope, body.get("unit_id"))
        uses = body.get("uses_allowed", 1)
        if not isinstance(uses, int) or isinstance(uses, bool) or not 1 <= uses <= MAX_TOKEN_USES:
            raise MatrixError(400, "M_INVALID_PARAM", f"uses_allowed must be an integer from 1 to {MAX_TOKEN_USES}")
        days = body.get("expiry_days", 7)
        if not isinstance(days, (int, float)) or isinstance(days, bool) or not 0 < days <= MAX_EXPIRY_DAYS:
            raise MatrixError(400, "M_INVALID_PARAM", f"expiry_days must be a number above 0, at most {MAX_EXPIRY_DAYS}")
        person = _text(body.get("person_name"), "person_name")
        designation = _text(body.get("designation"), "designation")
        token = new_registration_token()
        token_hash = hash_token(token)
        now = self.org.clock.now_ms()
        issued = self.audit.prepare(
            actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
            action="enrollment_token.issue", target=token_id(token_hash), unit_id=unit.unit_id,
            details={"uses_allowed": uses, "expiry_days": days, "person_name": person, "designation": designation})
        await self.store.create_enrollment_token(
            token_hash, unit.unit_id, person, designation, scope.user_id, uses, now + int(days * 86_400_000), now,
            also=[issued])
        return token, self.store.enrollment_tokens(token_hash)[0]

    def list_tokens(self, scope: AdminScope) -> list[EnrollmentToken]:
        """Enrollment tokens of the units the admin covers."""
        return [t for t in self.store.enrollment_tokens() if scope.covers(t.unit_id)]

    def get_token(self, scope: AdminScope, token_or_id: str) -> EnrollmentToken:
        """One enrollment token, named by its ID or by itself, if the admin covers its unit (404 otherwise)."""
        prefix = token_id_prefix(token_or_id)
        found = self.store.enrollment_tokens(prefix, hash_prefix=True) if prefix is not None else []
        if len(found) != 1:
            found = self.store.enrollment_tokens(hash_token(token_or_id))
        if not found or not scope.covers(found[0].unit_id):
            raise MatrixError(404, "M_NOT_FOUND", "Unknown enrollment token")
        return found[0]

    async def revoke_token(self, scope: AdminScope, token_or_id: str) -> None:
        """The token can't be redeemed any more (a registration already under way fails too)."""
        found = self.get_token(scope, token_or_id)
        await self.store.delete_enrollment_token(found.token_hash, also=[self.audit.prepare(
            actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
            action="enrollment_token.revoke", target=token_id(found.token_hash), unit_id=found.unit_id)])

    async def create_official(self, scope: AdminScope, body: dict[str, Any]) -> str:
        """Create an account directly in a unit; without a password, it is set later by reset."""
        unit = self.org.unit_in_scope(scope, body.get("unit_id"))
        username = _text(body.get("username"), "username", required=True) or ""
        user_id = make_user_id(username.lower(), self.accounts.settings.server_name)
        designation = _text(body.get("designation"), "designation") or ""
        displayname = _text(body.get("displayname"), "displayname") or default_displayname(user_id)
        password = body.get("password")
        password_hash = None
        if password is not None:
            self.accounts.check_password_shape(password)
            if (why := password_problem(self.org.policy_of_unit(unit.unit_id), password)) is not None:
                raise MatrixError(400, "M_WEAK_PASSWORD", why)
            password_hash = await self.accounts.hash_password(password)
        created = self.audit.prepare(
            actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
            action="account.create", target=user_id, unit_id=unit.unit_id,
            details={"designation": designation, "displayname": displayname, "with_password": password is not None})
        if not await self.store.create_official(
                user_id, password_hash, unit.unit_id, designation, displayname, self.org.clock.now_ms(),
                also=[created]):
            raise MatrixError(409, "M_USER_IN_USE", f"User ID {user_id} is already taken")
        if self.on_placement is not None:
            await self.on_placement(user_id)
        return user_id

    async def import_csv(self, scope: AdminScope, text: Any, all_or_nothing: bool = False) -> dict[str, Any]:
        """Rows of unit code, username, display name, designation (an optional header); idempotent; a report per row.

        Every row is checked before anything is written; the accounts to create are then
        written in one transaction, so a row is either wholly created or not at all. With
        all_or_nothing, one refused row (or a username taken meanwhile) creates none.
        """
        if not isinstance(text, str):
            raise MatrixError(400, "M_BAD_JSON", "csv must be a string")
        server_name = self.accounts.settings.server_name
        created: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        to_create: list[tuple[str, int, str, str | None]] = []
        seen: set[str] = set()
        touched: set[int] = set()
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as e:
            raise MatrixError(400, "M_INVALID_PARAM", f"Not valid CSV: {e}") from None
        if len(rows) > MAX_IMPORT_ROWS:
            raise MatrixError(400, "M_TOO_LARGE", f"At most {MAX_IMPORT_ROWS} rows per import")
        for line, row in enumerate(rows, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if line == 1 and _is_header(row):
                continue
            try:
                if len(row) != 4:
                    raise MatrixError(400, "M_INVALID_PARAM",
                                      f"expected 4 columns (unit code, username, display name, designation), got {len(row)}")
                code, username, name, designation = (cell.strip() for cell in row)
                unit = self.org.unit_by_code_in_scope(scope, code)
                user_id = make_user_id(_text(username, "username", required=True) or "", server_name)
                name_v = _text(name, "display name")
                designation_v = _text(designation, "designation") or ""
            except MatrixError as e:
                refused.append({"line": line, "row": row, "reason": e.message})
                continue
            if user_id in seen:
                refused.append({"line": line, "user_id": user_id, "reason": "username appears twice in this file"})
                continue
            seen.add(user_id)
            touched.add(unit.unit_id)
            existing = self.store.official(user_id)
            if existing is not None and existing.unit_id == unit.unit_id:
                skipped.append({"line": line, "user_id": user_id, "reason": "already an official of this unit"})
            elif existing is not None or await self.accounts.store.get_user(user_id) is not None:
                refused.append({"line": line, "user_id": user_id,
                                "reason": "username taken by an account outside this unit"})
            else:
                to_create.append((user_id, unit.unit_id, designation_v, name_v or default_displayname(user_id)))
                created.append({"line": line, "user_id": user_id, "unit_id": unit.unit_id})
        withheld: list[dict[str, Any]] = []
        if all_or_nothing and refused:
            withheld, to_create, created = created, [], []
        planned = ImportReport(created, skipped, refused, withheld)
        unit_id = _common_unit(self.org, touched)

        def entry(report: ImportReport) -> AuditAppend:
            return self.audit.prepare(
                actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                action="account.bulk_import", unit_id=unit_id, details=report.summary())

        try:
            # The accounts and the entry naming them commit together.
            made = set(await self.store.import_officials(
                to_create, self.org.clock.now_ms(), all_or_nothing,
                then=lambda made: [entry(planned.after(set(made), None))])) if to_create else None
        except ImportRaced as e:
            made = None
            report = planned.after(set(), set(e.user_ids))
        else:
            report = planned.after(made or set(), None)
        if made is None:
            await self.audit.commit(entry(report))  # nothing was written: the entry is the whole event
        if report.created and self.on_placement is not None:
            await self.on_placement(report.created[0]["user_id"])
        return report.to_json()


@dataclass(frozen=True)
class ImportReport:
    """What an import did, row by row; `after` settles the rows planned for creation against the write."""

    created: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    withheld: list[dict[str, Any]]

    def after(self, made: set[str], raced: set[str] | None) -> ImportReport:
        """The report once `made` were created; `raced` (all or nothing) names the usernames taken meanwhile."""
        if raced is not None:
            taken, withheld = raced, [c for c in self.created if c["user_id"] not in raced]
        else:
            taken, withheld = {c["user_id"] for c in self.created} - made, self.withheld
        refused = self.refused + [{**c, "reason": "username was taken during the import"}
                                  for c in self.created if c["user_id"] in taken]
        return ImportReport([c for c in self.created if c["user_id"] in made], self.skipped, refused, withheld)

    def summary(self) -> dict[str, Any]:
        """The audit entry's details: counts, and the first hundred accounts created."""
        return {"created": len(self.created), "skipped": len(self.skipped), "refused": len(self.refused),
                "withheld": len(self.withheld), "created_user_ids": [c["user_id"] for c in self.created][:100]}

    def to_json(self) -> dict[str, Any]:
        """The API's rendering."""
        return {"created": self.created, "skipped": self.skipped, "refused": self.refused, "withheld": self.withheld}


_HEADER_FIRST = ("unit", "unit_code", "unit code", "code")
_HEADER_SECOND = ("username", "user", "user_name", "user name", "localpart")


def _is_header(row: list[str]) -> bool:
    """A first row naming the columns (unit_code,username,… or unit,username,…) rather than an official."""
    cells = [cell.strip().lower() for cell in row[:2]]
    return len(cells) == 2 and cells[0] in _HEADER_FIRST and cells[1] in _HEADER_SECOND


def _common_unit(org: Organisation, unit_ids: set[int]) -> int | None:
    """The deepest unit above all the imported ones, so the admins of that subtree see the entry."""
    chains = [[u.unit_id for u in org.ancestry(unit_id)] for unit_id in unit_ids]
    common: int | None = None
    for level in zip(*chains, strict=False) if chains else []:
        if len(set(level)) != 1:
            break
        common = level[0]
    return common
