"""A directive's room: made by the server for the issuer, its membership kept equal to the target units'
officials, and reminders sent into it.

The room is an ordinary end-to-end-encrypted room, so any client shows it: its name
("Directive: <title>") and topic (deadline, how to acknowledge) are what Element and FluffyChat
display without plug-ins. The issuer's client writes the directive's text into it, encrypted; the
server never has it.

A server account, `@qasid-directives:<server>`, stands beside the issuer with the same power: it
places the `io.qasid.directive` metadata, adds and removes members as officials join, move and
leave, and sends the reminders. It has no password and no devices, so no client encrypts to it and
nobody can log in as it; its reminders are plain notices holding metadata only, and clients mark
them as unencrypted, which is what they are. A reminder from the server's own account says honestly
who sends it (a message "from the issuer" would be the server speaking in their name), and, sent
into the directive's room with a mention, it notifies exactly where the recipient must act.
"""

from __future__ import annotations

import logging
from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.membership import create_room, member_profile
from qasid.core.rooms import RoomService
from qasid.gov.audit import OPERATOR, AuditLog, iso_time
from qasid.gov.org import Organisation
from qasid.gov.rules import MEGOLM
from qasid.store.sqlite.directives import Directive, DirectiveStore

log = logging.getLogger("qasid.gov")

DIRECTIVE_EVENT = "io.qasid.directive"
NOTICES_LOCALPART = "qasid-directives"
NOTICES_NAME = "Directives (server)"
MENTIONS_PER_NOTICE = 100
HOW_TO_ACK = "To acknowledge, react to the directive's message (for example with ✅) or reply to it."


def notices_user_id(server_name: str) -> str:
    """The server's own account in directive rooms."""
    return f"@{NOTICES_LOCALPART}:{server_name}"


def directive_state(d: Directive) -> dict[str, Any]:
    """The io.qasid.directive content: what the room is, for clients and for the append-path hook."""
    return {"directive_id": d.directive_id, "issuer": d.issuer, "unit_ids": list(d.unit_ids),
            "deadline_ts": d.deadline_ts}


def room_topic(d: Directive) -> str:
    """What every client shows under the room's name."""
    return (f"Directive from {d.issuer}. Deadline: {iso_time(d.deadline_ts)[:16].replace('T', ' ')} UTC. "
            f"{HOW_TO_ACK} Reading it is not acknowledging it.")


def power_levels(issuer: str, notices: str) -> dict[str, Any]:
    """Issuer and server account at 100; members may write, react and reply, but not invite or change the room."""
    return {
        "users": {issuer: 100, notices: 100}, "users_default": 0, "events_default": 0, "state_default": 100,
        "invite": 100, "kick": 100, "ban": 100, "redact": 100,
        "events": {"m.room.name": 100, "m.room.topic": 100, "m.room.avatar": 100, "m.room.power_levels": 100,
                   "m.room.history_visibility": 100, "m.room.encryption": 100, "m.room.tombstone": 100,
                   "m.room.server_acl": 100, "m.room.canonical_alias": 100, DIRECTIVE_EVENT: 100},
        "notifications": {"room": 100},
    }


def recipients_of(org: Organisation, d: Directive) -> dict[str, int]:
    """The target units' officials now (each with their own unit), the issuer and offboarded accounts aside."""
    units = org.subtree(list(d.unit_ids))
    officials = org.store.officials_in(sorted(units))
    states = org.store.account_states([o.user_id for o in officials])
    return {o.user_id: o.unit_id for o in officials if o.user_id != d.issuer and states.get(o.user_id) != "offboarded"}


class DirectiveRooms:
    """Room operations of directives, through core's own room and membership operations."""

    def __init__(self, rooms: RoomService, org: Organisation, store: DirectiveStore, audit: AuditLog) -> None:
        self.rooms = rooms
        self.org = org
        self.store = store
        self.audit = audit
        self.notices = notices_user_id(rooms.settings.server_name)

    async def reserve_account(self) -> None:
        """Make the server's account (once); refuse if a person's account already holds its user ID."""
        if not await self.store.ensure_system_account(self.notices, NOTICES_NAME, self.org.clock.now_ms()):
            raise MatrixError(500, "M_UNKNOWN", f"{self.notices} is a person's account: directives need that user ID")

    async def open(self, d: Directive) -> str:
        """Make the directive's room with the issuer as creator, and record it (reconcile does the rest)."""
        await self.reserve_account()
        room_id = await create_room(self.rooms, d.issuer, {
            "preset": "private_chat", "name": f"Directive: {d.title}", "topic": room_topic(d),
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}],
            "power_level_content_override": power_levels(d.issuer, self.notices),
        })
        await self.store.set_room(d.directive_id, room_id, also=[self.audit.prepare(
            actor=OPERATOR, action="directive.room", target=d.directive_id, unit_id=self._unit_of(d.issuer),
            details={"room_id": room_id})])
        return room_id

    async def _ensure_server_part(self, d: Directive, room_id: str) -> None:
        """The server's account in the room and the metadata placed: after the room is recorded, so a
        crash between the steps is finished on the next round instead of making a second room."""
        room = await self.rooms.require_room(room_id)
        profile = {"displayname": NOTICES_NAME}
        if room.membership(self.notices) not in ("join", "invite"):
            await self.rooms.append(d.issuer, room_id, "m.room.member", {"membership": "invite", **profile},
                                    state_key=self.notices)
        if room.membership(self.notices) != "join":
            await self.rooms.append(self.notices, room_id, "m.room.member", {"membership": "join", **profile},
                                    state_key=self.notices)
        if (DIRECTIVE_EVENT, "") not in room.state:
            await self.rooms.append(self.notices, room_id, DIRECTIVE_EVENT, directive_state(d), state_key="")

    async def reconcile(self, d: Directive) -> tuple[int, int]:
        """Bring the room's membership to the recipients: add who is missing, remove who is no longer one.

        Someone who left the room themselves is not pulled back in; someone the server removed is,
        when they are a recipient again. Returns (added, removed).
        """
        if d.room_id is None:
            return 0, 0
        room = await self.rooms.snapshot(d.room_id)
        if room is None:
            return 0, 0
        await self._ensure_server_part(d, d.room_id)
        wanted = recipients_of(self.org, d)
        added = removed = 0
        for user_id in sorted(wanted):
            member = room.state.get(("m.room.member", user_id))
            membership = room.membership(user_id)
            if membership == "join" or (membership == "leave" and member is not None
                                        and member["sender"] != self.notices):
                continue
            if membership in ("ban", "knock"):
                continue
            try:
                profile = await member_profile(self.rooms, user_id)
                if membership != "invite":
                    await self.rooms.append(self.notices, d.room_id, "m.room.member",
                                            {"membership": "invite", **profile}, state_key=user_id)
                await self.rooms.append(user_id, d.room_id, "m.room.member", {"membership": "join", **profile},
                                        state_key=user_id)
                added += 1
            except MatrixError as e:
                log.warning("directive %s: could not add %s: %s", d.directive_id, user_id, e.message)
        for user_id in sorted(room.members("join", "invite") - set(wanted) - {d.issuer, self.notices}):
            try:
                await self.rooms.append(self.notices, d.room_id, "m.room.member",
                                        {"membership": "leave", "reason": "no longer in the directive's units"},
                                        state_key=user_id)
                removed += 1
            except MatrixError as e:
                log.warning("directive %s: could not remove %s: %s", d.directive_id, user_id, e.message)
        return added, removed

    async def remind(self, d: Directive, pending: list[str], actor: str, source_ip: str | None) -> None:
        """A notice from the server's account in the directive's room, mentioning each who has not acknowledged."""
        assert d.room_id is not None
        passed = d.deadline_ts <= self.org.clock.now_ms()
        when = iso_time(d.deadline_ts)[:16].replace("T", " ") + " UTC"
        for start in range(0, len(pending), MENTIONS_PER_NOTICE):
            batch = pending[start:start + MENTIONS_PER_NOTICE]
            lead = (f"Reminder: the deadline of this directive ({when}) has passed" if passed else
                    f"Reminder: this directive is due by {when}")
            body = f"{lead} and it is not yet acknowledged by {', '.join(batch)}. {HOW_TO_ACK}"
            await self.rooms.append(self.notices, d.room_id, "m.room.message", {
                "msgtype": "m.notice", "body": body, "m.mentions": {"user_ids": batch}})
        await self.store.set_reminded(d.directive_id, self.org.clock.now_ms(), also=[self.audit.prepare(
            actor=actor, source_ip=source_ip, action="directive.remind", target=d.directive_id,
            unit_id=self._unit_of(d.issuer), details={"reminded": len(pending), "deadline_passed": passed})])

    def _unit_of(self, user_id: str) -> int | None:
        official = self.org.store.official(user_id)
        return official.unit_id if official else None
