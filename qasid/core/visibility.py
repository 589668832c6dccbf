"""History visibility: which of a room's events a user may see (Client-Server API, "History visibility").

Each event is judged by the room's `m.room.history_visibility` and the user's membership as
they were at that event, never as they are now: a room set to `joined` keeps its past from a
newcomer, and someone who left reads up to their leave. Every path that hands out events
(/sync's timelines, /messages, /context, /event) asks `HistoryVisibility.visible`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from qasid.core.errors import MatrixError, forbidden
from qasid.core.rooms import RoomService
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow

# Most permissive first. A room without the event is `shared` (the spec's default); a value the
# spec does not define is read as the strictest, so a typo can't open a confidential room.
VISIBILITIES = ("world_readable", "shared", "invited", "joined")
DEFAULT_VISIBILITY = "shared"
# Most joined first: the order in which a user's own member event counts for them.
MEMBERSHIPS = ("join", "invite", "knock", "leave", "ban")

_HISTORY_VISIBILITY = "m.room.history_visibility"
_MEMBER = "m.room.member"
# timestamp_to_event reads at most this many pages of events past hidden ones.
_NEAR_PAGE, _NEAR_PAGES = 100, 10


def may_see(visibility: str, membership: str, joins_later: bool) -> bool:
    """The spec's rule for one event, from the visibility and the user's membership at it.

    `joins_later`: the user joined the room after the event (what `shared` asks).
    """
    if visibility == "world_readable" or membership == "join":
        return True
    if visibility == "shared":
        return joins_later
    if visibility == "invited":
        return membership == "invite"
    return False


def _visibility(value: str | None) -> str:
    if value is None:
        return DEFAULT_VISIBILITY
    return value if value in VISIBILITIES else "joined"


def _membership(value: str | None) -> str:
    return value if value in MEMBERSHIPS else "leave"


@dataclass(frozen=True)
class ViewerHistory:
    """A room's history_visibility values and one user's memberships, each with the stream
    position it took effect at, oldest first: all the algorithm needs for any of the room's events."""

    visibility: tuple[tuple[int, str], ...] = ()
    membership: tuple[tuple[int, str], ...] = ()
    last_join: int = 0

    @classmethod
    def from_rows(cls, rows: list[tuple[int, str, str]]) -> ViewerHistory:
        """From the store's (stream_ordering, type, value) rows, oldest first."""
        membership = tuple((p, v) for p, t, v in rows if t == _MEMBER)
        return cls(tuple((p, v) for p, t, v in rows if t == _HISTORY_VISIBILITY), membership,
                   max((p for p, m in membership if m == "join"), default=0))

    def membership_after(self, stream_ordering: int) -> str:
        """The user's membership once the event at `stream_ordering` had happened."""
        return _membership(_before(self.membership, stream_ordering + 1))

    def event_visible(self, stream_ordering: int, event_type: str, state_key: str | None, user_id: str) -> bool:
        """Whether the user may see the room's event at `stream_ordering`."""
        visibility = _visibility(_before(self.visibility, stream_ordering))
        if event_type == _HISTORY_VISIBILITY and state_key == "":
            # A change of visibility is seen under the more permissive of the old and new values.
            changed_to = _visibility(_at(self.visibility, stream_ordering))
            visibility = min(visibility, changed_to, key=VISIBILITIES.index)
        membership = _membership(_before(self.membership, stream_ordering))
        if event_type == _MEMBER and state_key == user_id:
            became = _membership(_at(self.membership, stream_ordering))
            if became == "leave" and membership in ("join", "invite", "knock"):
                # Their own leave, or a refused or withdrawn invite or knock: else the room could
                # never leave their client.
                return True
            membership = min(membership, became, key=MEMBERSHIPS.index)
        return may_see(visibility, membership, joins_later=self.last_join > stream_ordering)


def _before(changes: tuple[tuple[int, str], ...], stream_ordering: int) -> str | None:
    """The value in force just before `stream_ordering` (None: never set)."""
    index = bisect_left(changes, (stream_ordering, ""))
    return changes[index - 1][1] if index else None


def _at(changes: tuple[tuple[int, str], ...], stream_ordering: int) -> str | None:
    index = bisect_left(changes, (stream_ordering, ""))
    return changes[index][1] if index < len(changes) and changes[index][0] == stream_ordering else None


def visible_rows(rows: list[EventRow], user_id: str, history: ViewerHistory) -> list[EventRow]:
    """The rows the user may see, in their order."""
    return [r for r in rows if history.event_visible(r.stream_ordering, r.pdu["type"], r.pdu.get("state_key"),
                                                     user_id)]


class HistoryVisibility:
    """Applies the visibility rules to events read from the store: one query per room and user."""

    def __init__(self, store: Store, rooms: RoomService) -> None:
        self.store = store
        self.rooms = rooms

    async def visible(
        self, room_id: str, user_id: str, rows: list[EventRow], joined_since: int | None = None,
    ) -> list[EventRow]:
        """The rows of one room the user may see.

        `joined_since`: the position of the user's current member event when it is a join (as
        /sync knows it); every event after it is theirs to see, and needs no read.
        """
        if not rows or (joined_since is not None and all(r.stream_ordering > joined_since for r in rows)):
            return rows
        return visible_rows(rows, user_id, await self.history(room_id, user_id))

    async def history(self, room_id: str, user_id: str) -> ViewerHistory:
        """The room's visibility changes and the user's memberships, read in one query."""
        return ViewerHistory.from_rows(await self.store.events.visibility_history(room_id, user_id))

    async def readable_upto(self, room_id: str, user_id: str) -> int:
        """How far into the room's history the user may page: the end while joined (or for anyone
        when the room is world_readable), up to leaving for a past member; others get 403."""
        left_at = await self._left_at(room_id, user_id)
        return self.store.events.max_stream_ordering() if left_at is None else left_at

    async def readable_state(self, room_id: str, user_id: str) -> list[EventRow]:
        """The room state the user may read: current while joined (or world_readable), as it was
        when they left for a past member; others get 403."""
        left_at = await self._left_at(room_id, user_id)
        if left_at is None:
            return await self.store.events.current_state(room_id)
        return await self.store.events.state_at(room_id, left_at)

    async def readable_state_event(self, room_id: str, user_id: str, key: tuple[str, str]) -> EventRow | None:
        """One event of `readable_state` (None when the state has none at `key`)."""
        left_at = await self._left_at(room_id, user_id)
        if left_at is None:
            room = await self.rooms.snapshot(room_id)
            event_id = room.state_ids.get(key) if room is not None else None
            return await self.store.events.get_event(event_id) if event_id else None
        rows = await self.store.events.state_at(room_id, left_at)
        return next((r for r in rows if (r.pdu["type"], r.pdu.get("state_key")) == key), None)

    async def event_near(self, room_id: str, user_id: str, ts: int, forward: bool) -> EventRow | None:
        """The visible event nearest `ts` in the direction (timestamp_to_event); None when there is
        none, or the user may not read the room at all (the same answer, so no oracle)."""
        try:
            ceiling = await self.readable_upto(room_id, user_id)
        except MatrixError:
            return None
        for page in range(_NEAR_PAGES):
            rows = await self.store.events.events_by_time(room_id, ts, forward, ceiling, page * _NEAR_PAGE, _NEAR_PAGE)
            shown = await self.visible(room_id, user_id, rows)
            if shown:
                return shown[0]
            if len(rows) < _NEAR_PAGE:
                break
        return None

    async def _left_at(self, room_id: str, user_id: str) -> int | None:
        # None: the user reads the room as it is now.
        room = await self.rooms.snapshot(room_id)
        if room is not None:
            setting = room.state.get((_HISTORY_VISIBILITY, ""), {}).get("content", {}).get("history_visibility")
            if room.membership(user_id) == "join" or setting == "world_readable":
                return None
        for other_room, state, stream_ordering, _ in await self.store.events.memberships_of_user(user_id):
            # Only a past *member*: someone banned before joining, or who declined an invite, saw nothing.
            if other_room == room_id and state in ("leave", "ban") and await self.store.events.was_joined_before(
                    room_id, user_id, stream_ordering):
                return stream_ordering
        raise forbidden("You are not a member of this room")
