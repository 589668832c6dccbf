"""One room of a sliding sync response: all of it the first time, then only what changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from qasid.core.events import client_event, state_event
from qasid.core.filters import OPEN
from qasid.core.membership import stripped_state
from qasid.core.room_snapshot import RoomSnapshot
from qasid.core.rooms import RoomService
from qasid.core.sliding_sync.connection import MAX_LAZY_MEMBERS, RoomSent
from qasid.core.sliding_sync.request import RoomConfig
from qasid.core.sliding_sync.required_state import MEMBER, RequiredState
from qasid.core.sliding_sync.room_list import RoomEntry
from qasid.core.sync_rooms import newest_rows, timeline_keep
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow

HEROES = 5
# State events read ahead for a response's new rooms in one read (a room past this reads its own).
PREFETCH_MAX_ROWS = 1000
# A user's (notification, highlight) counts in each of these rooms.
Counts = Callable[[list[str], str], Awaitable[dict[str, tuple[int, int]]]]
StateKey = tuple[str, str]


class Prefetched(NamedTuple):
    """What a response's new rooms need, read for all of them at once (not per room)."""

    counts: dict[str, tuple[int, int]]
    rows: dict[str, EventRow]  # by event ID: their required state


NOTHING_PREFETCHED = Prefetched({}, {})


@dataclass(frozen=True)
class Viewer:
    """Who the response is for and where the connection stands."""

    user_id: str
    device_id: str
    since: int | None  # the events position of the connection's last response (None: its first)
    upto: int  # the events position this response is built up to
    now_ms: int
    ignored: frozenset[str] = frozenset()  # whose non-state events the timeline leaves out


class RoomResults:
    """Builds room results from the stored timeline and the rooms held in memory."""

    def __init__(self, store: Store, rooms: RoomService, visibility: HistoryVisibility, counts: Counts) -> None:
        self.store = store
        self.rooms = rooms
        self.visibility = visibility
        self.counts = counts

    async def build(
        self, viewer: Viewer, entry: RoomEntry, config: RoomConfig, prev: RoomSent | None, recount: bool,
        bundled: list[tuple[EventRow, dict[str, Any]]] | None = None, prefetched: Prefetched = NOTHING_PREFETCHED,
    ) -> tuple[dict[str, Any] | None, RoomSent | None]:
        """The room's result (None when nothing changed for this client) and what it now holds.

        `recount`: the user's read receipts moved, so the room's counts may have changed. `bundled`
        collects the timeline events to get aggregations (initial or limited: else the client
        saw every child arrive). `prefetched`: what the caller read already (see `prefetch`).
        """
        room = await self.rooms.snapshot(entry.room_id)
        if room is None:
            return None, prev
        if entry.membership in ("invite", "knock"):
            return self._stripped(viewer, room, entry, config, prev)
        joined = entry.membership == "join"
        room_upto = viewer.upto if joined else entry.membership_pos  # nothing after a leave
        initial = prev is None or (joined and prev.membership != "join")
        after = 0 if initial or prev is None else prev.upto
        limit = config.timeline_limit
        keep = timeline_keep(entry.room_id, OPEN, viewer.ignored)
        unchanged = prev is not None and not initial and not await self.store.events.rooms_with_events_after(
            [entry.room_id], after, room_upto)  # answered from memory: no read for a quiet room
        newest, read_all = ([], True) if unchanged else await newest_rows(
            self.store, entry.room_id, after, room_upto, limit + 1, keep)
        expanded = False
        if prev is not None and not initial and limit > prev.timeline_limit and len(newest) < limit:
            # The client now wants more than it was given: send the latest `limit`, older ones too.
            wider, wider_all = await newest_rows(self.store, entry.room_id, 0, room_upto, limit + 1, keep)
            expanded = len(wider) > len(newest)
            newest, read_all = (wider, wider_all) if expanded else (newest, read_all)
        if prev is not None and not initial and not newest and not recount and entry.membership == prev.membership \
                and config.required_state.added_since(prev.required_state).is_empty:
            return None, prev  # the common case of a long-poll, answered without reading state
        limited = len(newest) > limit
        window = list(reversed(newest[:limit]))
        # What history visibility hides leaves a gap: the client must page (and be refused) to see it.
        rows = await self.visibility.visible(entry.room_id, viewer.user_id, window,
                                             joined_since=entry.membership_pos if joined else None)
        limited = limited or len(rows) < len(window)
        # Every event of (after, room_upto] was read (state is never filtered out): its state events
        # are among them, and need no read of their own.
        state_changes = [r for r in reversed(newest) if r.stream_ordering > after and "state_key" in r.pdu] \
            if read_all and len(newest) <= limit else None
        state = await self._state(viewer, room, entry, config, prev, initial, after, room_upto, rows, limited,
                                  state_changes, prefetched.rows)
        if not joined:
            counts = (0, 0)
        elif entry.room_id in prefetched.counts:
            counts = prefetched.counts[entry.room_id]
        else:
            counts = (await self.counts([entry.room_id], viewer.user_id))[entry.room_id]
        lazy = _lazy_sent(prev, initial, state)
        sent = RoomSent(room_upto, entry.membership, limit, config.required_state, counts, lazy)
        if not initial and prev is not None and not (
                rows or expanded or state or counts != prev.counts or entry.membership != prev.membership):
            return None, prev
        result: dict[str, Any] = {
            "membership": entry.membership, "bump_stamp": entry.bump_stamp,
            "notification_count": counts[0], "highlight_count": counts[1],
            "timeline": [client_event(r, viewer.now_ms, (viewer.user_id, viewer.device_id), include_room_id=False)
                         for r in rows],
            "limited": limited,
            "prev_batch": f"t{rows[0].stream_ordering - 1 if rows else room_upto}",
            "num_live": 0 if viewer.since is None else sum(1 for r in rows if r.stream_ordering > viewer.since),
        }
        if bundled is not None and (initial or limited or expanded):
            bundled.extend(zip(rows, result["timeline"], strict=True))
        if state:
            result["required_state"] = [state_event(r, viewer.now_ms) for r in state]
        if initial:
            result["initial"] = True
        if expanded:
            result["unstable_expanded_timeline"] = True
        if joined:
            result["joined_count"] = len(room.members("join"))
            result["invited_count"] = len(room.members("invite"))
        result.update(self._meta(viewer, room, entry, initial, state))
        return result, sent

    def _stripped(
        self, viewer: Viewer, room: RoomSnapshot, entry: RoomEntry, config: RoomConfig, prev: RoomSent | None,
    ) -> tuple[dict[str, Any] | None, RoomSent | None]:
        """An invite (or knock) shows only the stripped state its event carries, once."""
        if prev is not None and prev.membership == entry.membership:
            return None, prev
        sent = RoomSent(entry.membership_pos, entry.membership, config.timeline_limit, config.required_state, (0, 0))
        result = {"initial": True, "membership": entry.membership, "bump_stamp": entry.bump_stamp,
                  "invite_state": stripped_state(room, viewer.user_id)}
        if entry.is_dm:
            result["is_dm"] = True
        return result, sent

    async def prefetch(self, user_id: str, fresh: list[tuple[str, RequiredState]]) -> Prefetched:
        """The counts and required state of rooms joined and new to the connection, in a few reads
        for all of them: a phone's first request lists 20 or more, each of which read its own."""
        if len(fresh) < 2:
            return NOTHING_PREFETCHED
        ids: list[str] = []
        for room_id, required in fresh:
            room = self.rooms.held(room_id)
            if room is not None and len(ids) < PREFETCH_MAX_ROWS:
                ids += [event_id for (event_type, key), event_id in room.state_ids.items()
                        if required.matches(event_type, key, user_id)]
        counts = await self.counts([room_id for room_id, _ in fresh], user_id)
        return Prefetched(counts, await self.store.events.get_events(ids))

    async def _state(
        self, viewer: Viewer, room: RoomSnapshot, entry: RoomEntry, config: RoomConfig, prev: RoomSent | None,
        initial: bool, after: int, room_upto: int, rows: list[EventRow], limited: bool,
        state_changes: list[EventRow] | None, known: dict[str, EventRow],
    ) -> list[EventRow]:
        """The required state the client lacks: all of it at first, then changes and expansions."""
        required = config.required_state
        if entry.membership == "join":
            current: dict[StateKey, str] = dict(room.state_ids)
        else:
            at_leave = await self.store.events.state_at(entry.room_id, room_upto)
            current = {(r.pdu["type"], r.pdu["state_key"]): r.event_id for r in at_leave}
        wanted: set[StateKey] = set()
        if initial or prev is None:
            wanted = {k for k in current if required.matches(k[0], k[1], viewer.user_id)}
        else:
            added = required.added_since(prev.required_state)
            wanted = {k for k in current if added.matches(k[0], k[1], viewer.user_id)}
            if state_changes is None:
                state_changes = await self.store.events.state_events_between(entry.room_id, after, room_upto)
            for row in state_changes:
                key = (row.pdu["type"], row.pdu["state_key"])
                if current.get(key) == row.event_id and (
                        required.matches(*key, viewer.user_id) or (required.lazy_members and key[0] == MEMBER
                                                                   and not limited)):
                    wanted.add(key)
        if required.lazy_members:
            already = frozenset() if initial or prev is None else prev.lazy_members
            wanted |= {k for k in _members_needed(rows) if k in current and k[1] not in already}
        if not wanted:
            return []
        ids = [current[k] for k in sorted(wanted)]
        found = {i: known[i] for i in ids if i in known}
        found |= await self.store.events.get_events([i for i in ids if i not in found])
        return [found[i] for i in ids if i in found]

    def _meta(self, viewer: Viewer, room: RoomSnapshot, entry: RoomEntry, initial: bool,
              state: list[EventRow]) -> dict[str, Any]:
        """Name, avatar and heroes: the first time, and whenever they may have changed."""
        changed = {r.pdu["type"] for r in state}
        meta: dict[str, Any] = {}
        if entry.is_dm and initial:
            meta["is_dm"] = True
        name = _content(room, "m.room.name").get("name")
        if isinstance(name, str) and name and (initial or "m.room.name" in changed):
            meta["name"] = name
        avatar = _content(room, "m.room.avatar").get("url")
        if isinstance(avatar, str) and avatar and (initial or "m.room.avatar" in changed):
            meta["avatar"] = avatar
        if not name and (initial or MEMBER in changed) and entry.membership == "join":
            meta["heroes"] = _heroes(room, viewer.user_id)
        return meta


def _content(room: RoomSnapshot, event_type: str) -> dict[str, Any]:
    pdu = room.state.get((event_type, ""))
    content = pdu["content"] if pdu else {}
    return content if isinstance(content, dict) else {}


def _heroes(room: RoomSnapshot, user_id: str) -> list[dict[str, Any]]:
    """Up to five other members, joined before invited, to name a room that has no name."""
    others = sorted(room.members("join") - {user_id}) + sorted(room.members("invite") - {user_id})
    heroes = []
    for member in others[:HEROES]:
        content = room.state[(MEMBER, member)]["content"]
        hero: dict[str, Any] = {"user_id": member}
        for key in ("displayname", "avatar_url"):
            if isinstance(content.get(key), str):
                hero[key] = content[key]
        heroes.append(hero)
    return heroes


def _members_needed(rows: list[EventRow]) -> set[StateKey]:
    """The members a timeline shows: its senders and the targets of its member events."""
    needed = {(MEMBER, r.pdu["sender"]) for r in rows}
    needed |= {(MEMBER, r.pdu["state_key"]) for r in rows if r.pdu["type"] == MEMBER}
    return needed


def _lazy_sent(prev: RoomSent | None, initial: bool, state: list[EventRow]) -> frozenset[str]:
    """Members the client now holds through this connection (bounded: forgetting only resends)."""
    members = {r.pdu["state_key"] for r in state if r.pdu["type"] == MEMBER}
    if not initial and prev is not None:
        members |= prev.lazy_members
    return frozenset(sorted(members)[:MAX_LAZY_MEMBERS]) if len(members) > MAX_LAZY_MEMBERS else frozenset(members)


def merge_required(configs: list[RoomConfig]) -> RoomConfig:
    """One config from every list and subscription a room matched."""
    merged = configs[0]
    for config in configs[1:]:
        merged = merged.combine(config)
    return merged


__all__ = ["RequiredState", "RoomResults", "Viewer", "merge_required"]
