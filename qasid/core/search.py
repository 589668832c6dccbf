"""Server-side search (Client-Server API "Server Side Search") over what the server can read.

Only plaintext `m.room.message` bodies, room names and topics are indexed (encrypted events never
are), and a result is shown only if history visibility let the searcher see it: a past member
finds what was said until they left, nobody finds a room they were never in. `count` counts the
visible results among the first MAX_CANDIDATES matches.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from qasid.core.clock import Clock
from qasid.core.errors import MatrixError
from qasid.core.events import client_event, state_event
from qasid.core.filters import OPEN, EventFilter, parse_room_event_filter
from qasid.core.ignored_users import IgnoredUsers
from qasid.core.ratelimit import RateLimiter
from qasid.core.relations import RelationService
from qasid.core.rooms import RoomService
from qasid.core.sync_rooms import timeline_keep
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow
from qasid.store.sqlite.search import SEARCH_KEYS

KEYS = tuple(sorted(set(SEARCH_KEYS.values())))
MAX_CANDIDATES = 500
DEFAULT_LIMIT, MAX_LIMIT = 10, 50
DEFAULT_CONTEXT, MAX_CONTEXT = 5, 20
MAX_TERM_CHARS, MAX_TERMS = 500, 16
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class RoomEventsQuery:
    """A checked `search_categories.room_events` criteria object."""

    terms: tuple[str, ...]
    keys: tuple[str, ...]
    room_filter: EventFilter
    by_rank: bool
    before_limit: int | None  # None: no event_context asked
    after_limit: int
    include_profile: bool
    include_state: bool
    group_by: tuple[str, ...]


def _bad(message: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", message)


def _context_limit(context: dict[str, Any], key: str) -> int:
    value = context.get(key, DEFAULT_CONTEXT)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"event_context.{key} must be an integer")
    if value < 0:
        raise MatrixError(400, "M_INVALID_PARAM", f"event_context.{key} must not be negative")
    return min(value, MAX_CONTEXT)


def parse_room_events(criteria: Any) -> RoomEventsQuery:
    """The criteria of a room_events search, bounded; M_BAD_JSON / M_INVALID_PARAM / M_MISSING_PARAM name the field."""
    if not isinstance(criteria, dict):
        raise _bad("search_categories.room_events must be an object")
    term = criteria.get("search_term")
    if term is None:
        raise MatrixError(400, "M_MISSING_PARAM", "search_term is required")
    if not isinstance(term, str):
        raise _bad("search_term must be a string")
    if len(term) > MAX_TERM_CHARS:
        raise MatrixError(400, "M_INVALID_PARAM", f"search_term must be at most {MAX_TERM_CHARS} characters")
    terms = tuple(dict.fromkeys(w.lower() for w in _WORD.findall(term)))[:MAX_TERMS]
    keys = criteria.get("keys", list(KEYS))
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _bad("keys must be a list of strings")
    if any(k not in KEYS for k in keys):
        raise MatrixError(400, "M_INVALID_PARAM", f"keys may only name {', '.join(KEYS)}")
    order_by = criteria.get("order_by", "rank")
    if order_by not in ("rank", "recent"):
        raise MatrixError(400, "M_INVALID_PARAM", "order_by must be 'rank' or 'recent'")
    room_filter = parse_room_event_filter(criteria["filter"]) if criteria.get("filter") is not None else OPEN
    context = criteria.get("event_context")
    if context is not None and not isinstance(context, dict):
        raise _bad("event_context must be an object")
    include_profile = (context or {}).get("include_profile", False)
    include_state = criteria.get("include_state", False)
    if not isinstance(include_profile, bool) or not isinstance(include_state, bool):
        raise _bad("include_profile and include_state must be true or false")
    return RoomEventsQuery(
        terms, tuple(dict.fromkeys(keys)), room_filter, order_by == "rank",
        _context_limit(context, "before_limit") if context is not None else None,
        _context_limit(context, "after_limit") if context is not None else 0,
        include_profile, include_state, _group_by(criteria.get("groupings")))


def _group_by(groupings: Any) -> tuple[str, ...]:
    if groupings is None:
        return ()
    if not isinstance(groupings, dict) or not isinstance(groupings.get("group_by", []), list):
        raise _bad("groupings.group_by must be a list")
    found = []
    for group in groupings.get("group_by", []):
        key = group.get("key") if isinstance(group, dict) else None
        if key not in ("room_id", "sender"):
            raise MatrixError(400, "M_INVALID_PARAM", "groupings.group_by[].key must be 'room_id' or 'sender'")
        found.append(key)
    return tuple(dict.fromkeys(found))


def parse_next_batch(token: str | None, by_rank: bool) -> int | None:
    """The offset (rank order) or stream position (recent order) a next_batch token carries."""
    if token is None:
        return None
    prefix = "r" if by_rank else "b"
    digits = token[1:]
    if token[:1] != prefix or not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid next_batch token")
    return int(digits)


class SearchService:
    """Runs a room_events search for one user."""

    def __init__(self, store: Store, clock: Clock, rooms: RoomService, visibility: HistoryVisibility,
                 ignored: IgnoredUsers, ratelimiter: RateLimiter, relations: RelationService) -> None:
        self.store = store
        self.relations = relations
        self.clock = clock
        self.rooms = rooms
        self.visibility = visibility
        self.ignored = ignored
        self.ratelimiter = ratelimiter

    async def search(self, viewer: tuple[str, str], body: dict[str, Any], next_batch: str | None) -> dict[str, Any]:
        """POST /search: only room_events is a category; the others are absent from the answer."""
        categories = body.get("search_categories")
        if categories is None:
            raise MatrixError(400, "M_MISSING_PARAM", "search_categories is required")
        if not isinstance(categories, dict):
            raise _bad("search_categories must be an object")
        if "room_events" not in categories:
            return {"search_categories": {}}
        query = parse_room_events(categories["room_events"])
        position = parse_next_batch(next_batch, query.by_rank)
        self.ratelimiter.check("search", viewer[0])
        return {"search_categories": {"room_events": await self._room_events(viewer, query, position)}}

    async def _candidate_rooms(self, user_id: str, room_filter: EventFilter) -> list[str]:
        rooms = {room_id for room_id, _, _, _ in await self.store.events.memberships_of_user(user_id)}
        return sorted(r for r in rooms if room_filter.allows_room(r))

    async def _visible_hits(self, user_id: str, query: RoomEventsQuery, before: int | None) -> list[tuple[EventRow, float]]:
        rooms = await self._candidate_rooms(user_id, query.room_filter)
        if not query.terms or not rooms:
            return []
        hits = self.store.search.matches(query.terms, rooms, list(query.keys),
                                         by_rank=query.by_rank, limit=MAX_CANDIDATES, before=before)
        rank = {h.stream_ordering: h.rank for h in hits}
        by_room: dict[str, list[EventRow]] = defaultdict(list)
        for row in await self.store.events.events_at(list(rank)):
            by_room[row.pdu["room_id"]].append(row)
        ignored = await self.ignored.of(user_id)
        shown: set[int] = set()
        for room_id, rows in by_room.items():
            keep = timeline_keep(room_id, query.room_filter, ignored)
            shown |= {r.stream_ordering for r in await self.visibility.visible(room_id, user_id, rows)
                      if keep is None or keep(r)}
        rows_at = {r.stream_ordering: r for rows in by_room.values() for r in rows}
        return [(rows_at[h.stream_ordering], h.rank) for h in hits if h.stream_ordering in shown]

    async def _room_events(self, viewer: tuple[str, str], query: RoomEventsQuery, position: int | None) -> dict[str, Any]:
        user_id = viewer[0]
        limit = min(query.room_filter.limit or DEFAULT_LIMIT, MAX_LIMIT)
        found = await self._visible_hits(user_id, query, None if query.by_rank else position)
        offset = (position or 0) if query.by_rank else 0
        page = found[offset:offset + limit]
        now = self.clock.now_ms()
        results = []
        for row, rank in page:
            result: dict[str, Any] = {"rank": rank, "result": client_event(row, now, viewer)}
            if query.before_limit is not None:
                result["context"] = await self._context(viewer, row, query)
            results.append(result)
        # Results carry their bundled aggregations (threads, edits), as every other read of events does.
        await self.relations.attach(user_id, [(row, r["result"]) for (row, _), r in zip(page, results, strict=True)], now)
        answer: dict[str, Any] = {"count": len(found), "highlights": list(query.terms), "results": results}
        if len(found) > offset + limit:
            answer["next_batch"] = f"r{offset + limit}" if query.by_rank else f"b{page[-1][0].stream_ordering}"
        if query.include_state:
            answer["state"] = await self._state({row.pdu["room_id"] for row, _ in page}, user_id, now)
        if query.group_by:
            answer["groups"] = _groups([row for row, _ in page], query.group_by)
        return answer

    async def _context(self, viewer: tuple[str, str], row: EventRow, query: RoomEventsQuery) -> dict[str, Any]:
        user_id, room_id = viewer[0], row.pdu["room_id"]
        events = self.store.events
        before = await events.room_events(room_id, 0, row.stream_ordering - 1, query.before_limit or 0, True)
        after = await events.room_events(room_id, row.stream_ordering, events.max_stream_ordering(),
                                         query.after_limit, False)
        shown = {r.event_id for r in await self.visibility.visible(room_id, user_id, [*reversed(before), *after])}
        before, after = [r for r in before if r.event_id in shown], [r for r in after if r.event_id in shown]
        now = self.clock.now_ms()
        context: dict[str, Any] = {
            "events_before": [client_event(r, now, viewer) for r in before],
            "events_after": [client_event(r, now, viewer) for r in after],
            "start": f"t{(before[-1].stream_ordering if before else row.stream_ordering) - 1}",
            "end": f"t{after[-1].stream_ordering if after else row.stream_ordering}",
        }
        if query.include_profile:
            # Profiles as the searcher may read the room's state: now while joined, as it was when they left.
            try:
                members = {r.pdu["state_key"]: r.pdu.get("content", {}) for r in
                           await self.visibility.readable_state(room_id, user_id) if r.pdu["type"] == "m.room.member"}
            except MatrixError:
                members = {}
            context["profile_info"] = {
                sender: {k: v for k, v in members.get(sender, {}).items()
                         if k in ("displayname", "avatar_url") and isinstance(v, str)}
                for sender in {r.pdu["sender"] for r in [row, *before, *after]}}
        return context

    async def _state(self, room_ids: set[str], user_id: str, now: int) -> dict[str, list[dict[str, Any]]]:
        state: dict[str, list[dict[str, Any]]] = {}
        for room_id in sorted(room_ids):
            try:
                rows = await self.visibility.readable_state(room_id, user_id)
            except MatrixError:
                continue
            state[room_id] = [dict(state_event(r, now), room_id=room_id) for r in rows]
        return state


def _groups(rows: list[EventRow], group_by: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for key in group_by:
        grouped: dict[str, dict[str, Any]] = {}
        for row in rows:
            value = row.pdu["room_id"] if key == "room_id" else row.pdu["sender"]
            grouped.setdefault(value, {"results": [], "order": len(grouped) + 1})["results"].append(row.event_id)
        groups[key] = grouped
    return groups
