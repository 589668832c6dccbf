"""The per-room sections of /sync: a joined room's timeline, state, summary and counts; a left room's end.

The request's filter shapes them: the timeline's conditions choose which events count toward
its limit, the state filter narrows the state, and `event_fields`/`event_format` shape each event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qasid.core.events import client_event, state_event
from qasid.core.filters import EventFilter, Filter
from qasid.core.lazy_members import LazyMembers
from qasid.core.push import PushService
from qasid.core.rooms import RoomService
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow

MEMBER = "m.room.member"
# How many pages of a filtered timeline are read before the rest is left as a gap.
MAX_FILTERED_PAGES = 8
Keep = Callable[[EventRow], bool]


def timeline_keep(room_id: str, timeline: EventFilter, ignored: frozenset[str]) -> Keep | None:
    """The test a timeline event must pass (None: every event passes, nothing to test).

    Non-state events of ignored users never reach the client; their state events still do.
    """
    if timeline.is_open and not ignored:
        return None

    def keep(row: EventRow) -> bool:
        pdu = row.pdu
        if pdu["sender"] in ignored and "state_key" not in pdu:
            return False
        return timeline.is_open or timeline.matches(pdu, room_id)

    return keep


async def newest_rows(
    store: Store, room_id: str, after: int, upto: int, count: int, keep: Keep | None,
) -> tuple[list[EventRow], bool]:
    """Up to `count` events in (after, upto] that `keep` accepts, newest first; and whether all were read."""
    if keep is None:
        return await store.events.room_events(room_id, after, upto, count, descending=True), True
    kept: list[EventRow] = []
    batch = max(2 * count, 20)
    top = upto
    for _ in range(MAX_FILTERED_PAGES):
        rows = await store.events.room_events(room_id, after, top, batch, descending=True)
        for row in rows:
            if keep(row):
                kept.append(row)
                if len(kept) == count:
                    return kept, True
        if len(rows) < batch:
            return kept, True
        top = rows[-1].stream_ordering
    return kept, False


async def read_timeline(
    store: Store, room_id: str, after: int, upto: int, limit: int, keep: Keep | None,
) -> tuple[list[EventRow], bool]:
    """The newest `limit` events in (after, upto] that `keep` accepts, oldest first, and whether more were left."""
    rows, read_all = await newest_rows(store, room_id, after, upto, limit + 1, keep)
    return list(reversed(rows[:limit])), len(rows) > limit or not read_all


STATE_AFTER = "org.matrix.msc4222.state_after"


class RoomSections:
    """Builds the `join` and `leave` entries of one /sync response."""

    def __init__(
        self, store: Store, rooms: RoomService, push: PushService, visibility: HistoryVisibility,
        lazy_members: LazyMembers,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.push = push
        self.visibility = visibility
        self.lazy_members = lazy_members

    async def joined_room(
        self, viewer: tuple[str, str], sync_filter: Filter, limit: int, room_id: str, since: int | None,
        upto: int, now: int, joined_at: int, ignored: frozenset[str], state_after: bool = False,
        state_after_key: str = STATE_AFTER,
    ) -> tuple[dict[str, Any], list[EventRow]]:
        """A joined room's section and the timeline rows it shows; `since` None: the room from scratch.

        `state_after` (MSC4222): the state at the end of the timeline, changes since `since` included
        even when the timeline shows them, under `state_after_key` instead of `state`.
        """
        user_id = viewer[0]
        room_filter = sync_filter.room
        after = since or 0
        keep = timeline_keep(room_id, room_filter.timeline, ignored)
        rows, limited = await read_timeline(self.store, room_id, after, upto, limit, keep)
        visible = await self.visibility.visible(room_id, user_id, rows, joined_since=joined_at)
        # Hidden events leave a gap the client must not take for the room's whole history; the
        # state is taken before the first event shown, so state changes hidden with them still count.
        limited = limited or len(visible) < len(rows)
        start = visible[0].stream_ordering - 1 if visible else upto
        state_rows: list[EventRow] = []
        if state_after or since is None or limited:
            state_rows = await self.store.events.state_at(room_id, upto if state_after else start)
            if since is not None:
                state_rows = [r for r in state_rows if r.stream_ordering > since]
        state_filter = room_filter.state
        if not state_filter.is_open:
            state_rows = [r for r in state_rows if state_filter.matches(r.pdu, room_id)]
        if state_filter.lazy_load_members:
            state_rows = await self._lazy_members(viewer, room_id, state_filter, since, upto if state_after else start,
                                                  visible, state_rows, state_after)
        if state_filter.limit is not None:
            state_rows = state_rows[:state_filter.limit]
        counts = await self.push.counts(room_id, user_id)
        section: dict[str, Any] = {
            "timeline": {"events": [sync_filter.shape(client_event(r, now, viewer, include_room_id=False), r.pdu)
                                    for r in visible],
                         "limited": limited, "prev_batch": f"t{start}"},
            state_after_key if state_after else "state": {
                "events": [sync_filter.shape(state_event(r, now), r.pdu) for r in state_rows]},
            "summary": self.summary(room_id, user_id),
            "unread_notifications": counts.as_json(),
        }
        if room_filter.timeline.unread_thread_notifications:
            section["unread_notifications"] = counts.main_json()
            section["unread_thread_notifications"] = counts.threads_json()
        return section, visible

    async def _lazy_members(
        self, viewer: tuple[str, str], room_id: str, state_filter: EventFilter, since: int | None, start: int,
        timeline: list[EventRow], state_rows: list[EventRow], state_after: bool = False,
    ) -> list[EventRow]:
        """Lazy-loading: the member events of the timeline's senders (and the viewer) the device lacks.

        Other state passes as it is; a member already sent to this device (same event) is not
        sent again unless `include_redundant_members`. With `state_after` (state read at `start`,
        the timeline's end) a member changed in the timeline is state too: a client reading
        state_after takes no state from the timeline.
        """
        in_timeline = {r.pdu["state_key"]: r.event_id for r in timeline if r.pdu["type"] == MEMBER}
        wanted = {r.pdu["sender"] for r in timeline} | {viewer[0]}
        wanted = wanted | in_timeline.keys() if state_after else wanted - in_timeline.keys()
        members = {r.pdu["state_key"]: r for r in state_rows if r.pdu["type"] == MEMBER}
        others = [r for r in state_rows if r.pdu["type"] != MEMBER]
        picked = [members[m] for m in sorted(wanted) if m in members]
        missing = [m for m in sorted(wanted) if m not in members]
        if missing and since is not None:
            # Members whose event predates `since` are not among the state changes read: look them up.
            found = {r.pdu["state_key"]: r for r in await self.store.events.members_at(room_id, start, missing)}
            picked += [found[m] for m in missing if m in found and state_filter.matches(found[m].pdu, room_id)]
        if since is None:
            self.lazy_members.forget_room(viewer, room_id)
        if not state_filter.include_redundant_members:
            picked = [r for r in picked if not self.lazy_members.was_sent(viewer, room_id, r.pdu["state_key"],
                                                                           r.event_id)]
        self.lazy_members.record(viewer, room_id, {**in_timeline,
                                                   **{r.pdu["state_key"]: r.event_id for r in picked}})
        return others + picked

    async def left_room(
        self, viewer: tuple[str, str], sync_filter: Filter, limit: int, room_id: str, since: int, left_at: int,
        now: int, ignored: frozenset[str],
    ) -> tuple[dict[str, Any], list[EventRow]]:
        """A room the user left (or was banned from): its timeline up to the leave, nothing after;
        and the timeline rows it shows."""
        user_id = viewer[0]
        if not await self.store.events.was_joined_before(room_id, user_id, left_at):
            # Never joined (banned first, or declined an invite): the leave itself, nothing of the room.
            since = left_at - 1
        keep = timeline_keep(room_id, sync_filter.room.timeline, ignored)
        fetched, limited = await read_timeline(self.store, room_id, since, left_at, limit, keep)
        rows = await self.visibility.visible(room_id, user_id, fetched)
        limited = limited or len(rows) < len(fetched)
        start = rows[0].stream_ordering - 1 if rows else left_at
        state_rows = await self.store.events.state_at(room_id, start) if limited or since == 0 else []
        state_filter = sync_filter.room.state
        state_rows = [r for r in state_rows if state_filter.matches(r.pdu, room_id)][:state_filter.limit]
        return {
            "timeline": {"events": [sync_filter.shape(client_event(r, now, include_room_id=False), r.pdu)
                                    for r in rows],
                         "limited": limited, "prev_batch": f"t{start}"},
            "state": {"events": [sync_filter.shape(state_event(r, now), r.pdu) for r in state_rows]},
            "account_data": {"events": []},
        }, rows

    def summary(self, room_id: str, user_id: str) -> dict[str, Any]:
        """The room summary: joined and invited counts and up to five heroes."""
        joined = self.rooms.joined_members(room_id)
        invited = self.rooms.invited_members(room_id)
        heroes = sorted((joined | invited) - {user_id})[:5]
        return {"m.joined_member_count": len(joined), "m.invited_member_count": len(invited),
                "m.heroes": heroes}
