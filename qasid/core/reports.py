"""Reporting content (Client-Server API "Reporting content"): what may be reported, and by whom.

A report names someone: the event's sender, the room's creator, or the user. Whatever the
reporter may not see answers 404 exactly like what does not exist, so a report is no oracle for
rooms, events or accounts: an event only while joined and visible to them, a room only while
joined or invited (or world_readable), a user only if they exist and the reporter may find them
in the directory or shares a room with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qasid.core.errors import MatrixError, not_found
from qasid.core.ids import is_user_id
from qasid.core.policy import Policy
from qasid.core.rooms import RoomService
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite.accounts import AccountStore

MAX_REASON_CHARS = 1000
# What a room is reportable under when the reporter is not in it: its history is public.
_WORLD_READABLE = "world_readable"


@dataclass(frozen=True)
class ReportBody:
    """A report's own words and score, checked."""

    reason: str
    score: int | None


def parse_report_body(body: dict[str, Any], *, reason_required: bool) -> ReportBody:
    """The body of a report: `reason` (a string, at most MAX_REASON_CHARS) and, for events, the old `score`."""
    reason = body.get("reason")
    if reason is None:
        if reason_required:
            raise MatrixError(400, "M_MISSING_PARAM", "reason is required (it may be empty)")
        reason = ""
    if not isinstance(reason, str):
        raise MatrixError(400, "M_BAD_JSON", "reason must be a string")
    if len(reason) > MAX_REASON_CHARS:
        raise MatrixError(400, "M_INVALID_PARAM", f"reason must be at most {MAX_REASON_CHARS} characters")
    score = body.get("score")
    if score is not None and (not isinstance(score, int) or isinstance(score, bool)):
        raise MatrixError(400, "M_BAD_JSON", "score must be an integer")
    if score is not None and not -100 <= score <= 0:
        raise MatrixError(400, "M_INVALID_PARAM", "score must be between -100 and 0")
    return ReportBody(reason, score)


class ReportTargets:
    """Resolves what a report is about to the account it names, refusing what the reporter can't see."""

    def __init__(self, rooms: RoomService, visibility: HistoryVisibility, accounts: AccountStore,
                 policy: Policy) -> None:
        self.rooms = rooms
        self.visibility = visibility
        self.accounts = accounts
        self.policy = policy

    async def event_sender(self, reporter: str, room_id: str, event_id: str) -> str:
        """The sender of an event the reporter, joined to its room, may see; 404 otherwise."""
        room = await self.rooms.snapshot(room_id)
        if room is None or room.membership(reporter) != "join":
            raise not_found("The event was not found or you are not joined to the room")
        row = await self.rooms.store.events.get_event(event_id)
        if row is None or row.pdu["room_id"] != room_id or row.redacted_by is not None \
                or not await self.visibility.visible(room_id, reporter, [row]):
            raise not_found("The event was not found or you are not joined to the room")
        return str(row.pdu["sender"])

    async def room_creator(self, reporter: str, room_id: str) -> str:
        """The creator of a room the reporter is joined or invited to (or that is world_readable); 404 otherwise."""
        room = await self.rooms.snapshot(room_id)
        if room is None:
            raise not_found("The room was not found")
        setting = room.state.get(("m.room.history_visibility", ""), {}).get("content", {}).get("history_visibility")
        create = room.state.get(("m.room.create", ""))
        if create is None or (room.membership(reporter) not in ("join", "invite") and setting != _WORLD_READABLE):
            raise not_found("The room was not found")
        return str(create["sender"])

    async def user(self, reporter: str, user_id: str) -> str:
        """A user the reporter may find (directory scope, or a shared room); 404 for anyone else or no one."""
        if not is_user_id(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", "userId must be a Matrix user ID")
        if user_id == reporter:
            raise MatrixError(400, "M_INVALID_PARAM", "You can't report yourself")
        if await self.accounts.get_user(user_id) is None or not (
                await self.policy.visible_in_directory(reporter, user_id)
                or await self.rooms.share_a_room(reporter, user_id)):
            raise not_found("The user was not found")
        return user_id
