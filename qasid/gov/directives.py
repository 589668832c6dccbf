"""Directives: who may issue them, their status (who acknowledged, who only read, who not), reminders.

An admin issues to units they administer; an official whose designation a unit's policy lists in
`directive_designations` issues to that unit's subtree from a unit at or above it. The server
keeps the metadata it is given (title, target units, deadline) and learns of acknowledgements
from the events clients send in the clear: a reaction (`m.reaction`, which clients leave
unencrypted) or a reply (`m.relates_to.m.in_reply_to`, also in the clear) to the directive's
message — the issuer's first message in the room. A public read receipt is "read", never an
acknowledgement. Each is recorded, with its audit entry, in the event's own transaction.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from qasid.core.clock import random_string
from qasid.core.errors import MatrixError
from qasid.core.ids import is_user_id
from qasid.core.rooms import RoomService
from qasid.gov.audit import OPERATOR, AuditLog, iso_time
from qasid.gov.directive_rooms import DIRECTIVE_EVENT, DirectiveRooms, notices_user_id, recipients_of
from qasid.gov.enrollment import _text
from qasid.gov.org import Organisation, unknown_unit
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.directives import Directive, DirectiveStore, record_ack, record_message

log = logging.getLogger("qasid.gov")

MAX_UNITS = 50
MAX_DEADLINE_MS = 366 * 86_400_000
DIRECTIVE_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
MESSAGE_TYPES = ("m.room.encrypted", "m.room.message")
# Directives whose deadline is this far past are no longer kept in step with the organisation.
RECONCILE_AFTER_DEADLINE_MS = 30 * 86_400_000


def unknown_directive(directive_id: object) -> MatrixError:
    """The one error for a directive that doesn't exist or that the caller may not see."""
    return MatrixError(404, "M_NOT_FOUND", f"Unknown directive {directive_id}")


class Directives:
    """Issuing, listing, status and reminders; the append-path hook that records acknowledgements."""

    def __init__(self, org: Organisation, store: DirectiveStore, audit: AuditLog, rooms: RoomService | None,
                 server_name: str) -> None:
        self.org = org
        self.store = store
        self.audit = audit
        # None when acting from the CLI: rooms and reminders wait for the running server.
        self.rooms = DirectiveRooms(rooms, org, store, audit) if rooms is not None else None
        self.notices = notices_user_id(server_name)

    # --- who may do what -------------------------------------------------------------------

    def caller(self, user_id: str, is_server_admin: bool) -> AdminScope:
        """The caller's admin scope; an official who administers nothing covers no unit (but may hold a designation)."""
        return self.org.admin_scope(user_id, is_server_admin) or AdminScope(user_id, frozenset())

    def _may_issue_to(self, scope: AdminScope, issuer: str, unit_id: int) -> bool:
        if scope.covers(unit_id):
            return True
        official = self.org.store.official(issuer)
        if official is None or scope.user_id != issuer:
            return False
        return (unit_id in self.org.subtree([official.unit_id])
                and official.designation in self.org.policy_of_unit(unit_id)["directive_designations"])

    def _may_see(self, scope: AdminScope, d: Directive) -> bool:
        """The issuer, national admins and the admins of the issuer's unit."""
        if scope.user_id == d.issuer or scope.is_national:
            return True
        official = self.org.store.official(d.issuer)
        return official is not None and scope.covers(official.unit_id)

    def get(self, scope: AdminScope, directive_id: str) -> Directive:
        """The directive, if the caller may see it; 404 otherwise."""
        found = self.store.get(directive_id) if DIRECTIVE_ID.match(directive_id) else None
        if found is None or not self._may_see(scope, found):
            raise unknown_directive(directive_id)
        return found

    # --- issuing ---------------------------------------------------------------------------

    async def create(self, scope: AdminScope, body: dict[str, Any], issuer: str | None = None) -> dict[str, Any]:
        """Record a directive (audited in the same transaction) and, on the running server, open its room.

        `issuer` is for the operator acting from the CLI; through the API the caller issues.
        """
        issuer = issuer or scope.user_id
        title = _text(body.get("title"), "title", required=True) or ""
        unit_ids = body.get("unit_ids")
        if (not isinstance(unit_ids, list) or not 1 <= len(unit_ids) <= MAX_UNITS
                or not all(isinstance(u, int) and not isinstance(u, bool) for u in unit_ids)
                or len(set(unit_ids)) != len(unit_ids)):
            raise MatrixError(400, "M_INVALID_PARAM", f"unit_ids must be a list of 1 to {MAX_UNITS} distinct unit IDs")
        deadline = body.get("deadline_ts")
        now = self.org.clock.now_ms()
        if not isinstance(deadline, int) or isinstance(deadline, bool) or not now < deadline <= now + MAX_DEADLINE_MS:
            raise MatrixError(400, "M_INVALID_PARAM", "deadline_ts must be a time in milliseconds in the coming year")
        if not is_user_id(issuer):
            raise MatrixError(400, "M_INVALID_PARAM", "issuer must be a Matrix user ID")
        if self.org.store.account_states([issuer]).get(issuer, "offboarded") != "active":
            raise MatrixError(400, "M_INVALID_PARAM", f"{issuer} is not an active account")
        units = self.org.store.units()
        for unit_id in unit_ids:
            if unit_id not in units or not self._may_issue_to(scope, issuer, unit_id):
                raise unknown_unit(unit_id)
        if self.rooms is not None:
            await self.rooms.reserve_account()
        d = Directive(random_string(16), issuer, title, tuple(unit_ids), deadline, now, scope.user_id)
        await self.store.create(d, also=[self.audit.prepare(
            actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip, action="directive.create",
            target=d.directive_id, unit_id=self._unit_of(issuer),
            details={"issuer": issuer, "title": title, "unit_ids": unit_ids, "deadline_ts": deadline})])
        if self.rooms is not None:
            try:
                await self.rooms.open(d)
                d = self.store.get(d.directive_id) or d
                await self.rooms.reconcile(d)
            except MatrixError as e:
                # Recorded already: the maintenance round finishes it (a retry would issue it twice).
                log.warning("directive %s: room not made yet: %s", d.directive_id, e.message)
                d = self.store.get(d.directive_id) or d
        return self.summary(d)

    # --- reading ---------------------------------------------------------------------------

    def summary(self, d: Directive) -> dict[str, Any]:
        """How a directive appears in lists."""
        return {"directive_id": d.directive_id, "title": d.title, "issuer": d.issuer, "unit_ids": list(d.unit_ids),
                "deadline_ts": d.deadline_ts, "deadline": iso_time(d.deadline_ts), "created_ts": d.created_ts,
                "room_id": d.room_id, "message_event_id": d.message_event_id, "message_ts": d.message_ts,
                "reminded_ts": d.reminded_ts}

    def list_directives(self, scope: AdminScope) -> list[dict[str, Any]]:
        """The directives the caller may see, newest first."""
        return [self.summary(d) for d in self.store.all() if self._may_see(scope, d)]

    def status(self, scope: AdminScope, directive_id: str) -> dict[str, Any]:
        """Per person and per unit: who acknowledged (how, when), who only read (when), who neither."""
        d = self.get(scope, directive_id)
        return self._status(d)

    def _status(self, d: Directive) -> dict[str, Any]:
        recipients = recipients_of(self.org, d)
        acks = self.store.acks(d.directive_id)
        reads = self.store.read_receipts(d.room_id, d.message_event_id) if d.room_id and d.message_event_id else {}
        units = self.org.store.units()
        people: list[dict[str, Any]] = []
        for user_id, unit_id in sorted(recipients.items()):
            ack = acks.get(user_id)
            state = "acknowledged" if ack else "read" if user_id in reads else "not_read"
            people.append({"user_id": user_id, "unit_id": unit_id, "state": state,
                           "acknowledged_ts": ack.ts if ack else None, "how": ack.how if ack else None,
                           "read_ts": reads.get(user_id)})
        by_unit: dict[int, Counter[str]] = {}
        for person in people:
            by_unit.setdefault(person["unit_id"], Counter())[person["state"]] += 1
        totals: Counter[str] = Counter(p["state"] for p in people)
        return {
            **self.summary(d),
            "counts": _counts(totals),
            "units": [{"unit_id": unit_id, "code": units[unit_id].code if unit_id in units else None,
                       **_counts(counts)} for unit_id, counts in sorted(by_unit.items())],
            "officials": people,
        }

    # --- reminders -------------------------------------------------------------------------

    async def remind(self, scope: AdminScope, directive_id: str) -> dict[str, Any]:
        """Remind those who have not acknowledged, now (or, from the CLI, on the server's next round)."""
        d = self.get(scope, directive_id)
        if d.room_id is None or d.message_event_id is None:
            raise MatrixError(400, "M_INVALID_PARAM", "The issuer has not written the directive into its room yet")
        pending = self._pending(d)
        if self.rooms is None:
            await self.store.request_reminder(d.directive_id, also=[self.audit.prepare(
                actor=scope.user_id, source_ip=scope.source_ip, action="directive.remind_request",
                target=d.directive_id, unit_id=self._unit_of(d.issuer), details={"pending": len(pending)})])
            return {"directive_id": d.directive_id, "reminded": pending, "queued": True}
        if pending:
            await self.rooms.remind(d, pending, scope.user_id, scope.source_ip)
        return {"directive_id": d.directive_id, "reminded": pending, "queued": False}

    def _pending(self, d: Directive) -> list[str]:
        return [p["user_id"] for p in self._status(d)["officials"] if p["state"] != "acknowledged"]

    # --- the running server's side ---------------------------------------------------------

    async def official_changed(self, user_id: str) -> None:
        """An official was placed, moved or enrolled: bring every open directive's room in step."""
        del user_id  # any directive may gain or lose them; directives are few
        await self.reconcile_all()

    async def open_pending(self) -> int:
        """Make the rooms of directives created from the CLI (or whose opening was cut short); returns how many."""
        if self.rooms is None:
            return 0
        opened = 0
        for d in self.store.all():
            if d.room_id is None:
                try:
                    await self.rooms.open(d)
                    await self.rooms.reconcile(self.store.get(d.directive_id) or d)
                    opened += 1
                except MatrixError as e:
                    log.warning("directive %s: %s", d.directive_id, e.message)
        return opened

    async def reconcile_all(self) -> int:
        """Fix every open directive's membership (rooms still to be made are made first); returns changes made."""
        if self.rooms is None:
            return 0
        changes = await self.open_pending()
        now = self.org.clock.now_ms()
        for d in self.store.all():
            if d.room_id is None or d.deadline_ts + RECONCILE_AFTER_DEADLINE_MS < now:
                continue
            try:
                added, removed = await self.rooms.reconcile(d)
                changes += added + removed
            except MatrixError as e:
                log.warning("directive %s: %s", d.directive_id, e.message)
        return changes

    async def send_due_reminders(self) -> int:
        """One reminder when the deadline passes, and those asked for from the CLI; returns how many were sent."""
        if self.rooms is None:
            return 0
        sent = 0
        now = self.org.clock.now_ms()
        for d in self.store.all():
            if d.room_id is None or d.message_event_id is None:
                continue
            due = d.remind_requested or (d.deadline_ts <= now and (d.reminded_ts or 0) < d.deadline_ts)
            if not due:
                continue
            pending = self._pending(d)
            await self.rooms.remind(d, pending, OPERATOR, None) if pending else await self.store.set_reminded(
                d.directive_id, now)
            sent += bool(pending)
        return sent

    def event_writes(self, room_state: dict[tuple[str, str], dict[str, Any]], event_id: str,
                     pdu: dict[str, Any]) -> list[Any]:
        """In a directive's room: the issuer's first message becomes what is acknowledged; a recipient's
        reaction or reply to it is their acknowledgement. Each with its audit entry, in the event's transaction."""
        marker = room_state.get((DIRECTIVE_EVENT, ""))
        if marker is None or marker["sender"] != self.notices or "state_key" in pdu:
            return []
        directive_id, issuer = marker["content"].get("directive_id"), marker["content"].get("issuer")
        sender, content, room_id = pdu["sender"], pdu["content"], pdu["room_id"]
        ts = int(pdu["origin_server_ts"])
        if sender == issuer:
            if pdu["type"] not in MESSAGE_TYPES:
                return []
            return [record_message(room_id, issuer, event_id, ts, self.audit.prepare(
                actor=issuer, action="directive.message", target=str(directive_id), unit_id=self._unit_of(issuer),
                details={"event_id": event_id}))]
        found = acknowledgement(pdu["type"], content)
        if found is None:
            return []
        how, target = found
        return [record_ack(room_id, sender, target, event_id, how, ts, self.audit.prepare(
            actor=sender, action="directive.acknowledge", target=str(directive_id), unit_id=self._unit_of(sender),
            details={"event_id": event_id, "how": how}))]

    def _unit_of(self, user_id: str) -> int | None:
        official = self.org.store.official(user_id)
        return official.unit_id if official else None


def acknowledgement(event_type: str, content: dict[str, Any]) -> tuple[str, str] | None:
    """("reaction" | "reply", the event it answers) if this event, from its clear content, acknowledges one.

    A reaction (m.reaction, or an encrypted one whose relation is in the clear) with any key, or a
    message whose m.relates_to carries m.in_reply_to; nothing else (an edit, a thread without a reply).
    """
    relation = content.get("m.relates_to")
    if not isinstance(relation, dict):
        return None
    reply = relation.get("m.in_reply_to")
    if event_type in ("m.reaction", "m.room.encrypted") and relation.get("rel_type") == "m.annotation":
        target = relation.get("event_id")
        how = "reaction"
    elif event_type in MESSAGE_TYPES and isinstance(reply, dict):
        target = reply.get("event_id")
        how = "reply"
    else:
        return None
    return (how, target) if isinstance(target, str) and target else None


def _counts(counts: Counter[str]) -> dict[str, int]:
    return {"recipients": sum(counts.values()), "acknowledged": counts["acknowledged"],
            "read_only": counts["read"], "not_read": counts["not_read"]}
