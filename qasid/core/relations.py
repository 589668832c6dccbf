"""Relations served: /relations, /threads, and the aggregations bundled in unsigned["m.relations"].

Every path that hands events to a client (/sync, sliding sync, /messages, /context, /event and
the two endpoints here) calls `attach` once per response with all the events it serves: one
index read for their children, one history-visibility read per room that has any, one read of
the events to bundle. A child the viewer may not see (history visibility) or whose sender they
ignore is never counted, shown or named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qasid.core.errors import MatrixError, not_found
from qasid.core.events import client_event
from qasid.core.ignored_users import IgnoredUsers
from qasid.core.pdu import redact
from qasid.core.relation_rules import (
    AGGREGATED,
    NO_BUNDLE,
    REFERENCE,
    REPLACE,
    THREAD,
    Relation,
    latest_edit,
    receipt_fits_thread,
    relation_of,
    valid_edit,
)
from qasid.core.visibility import HistoryVisibility, ViewerHistory
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow
from qasid.store.sqlite.relations import RECURSION_DEPTH, RelationRow

# Events served alongside their dicts: the dicts get their bundle in place.
Served = Sequence[tuple[EventRow, dict[str, Any]]]
MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class RelationsPage:
    """One page of GET /relations: the children as served (aggregations bundled), where the next page starts."""

    chunk: list[dict[str, Any]]
    next_position: int | None
    recursion_depth: int | None


@dataclass(frozen=True)
class ThreadsPage:
    """One page of GET /threads: the roots as served, latest activity first, and where the next page starts."""

    chunk: list[dict[str, Any]]
    next_position: int | None


class _Viewer:
    """One user's view while a response is built: their ignore list and each room's visibility, read once."""

    def __init__(self, user_id: str, ignored: frozenset[str], visibility: HistoryVisibility) -> None:
        self.user_id = user_id
        self.ignored = ignored
        self.visibility = visibility
        self._histories: dict[str, ViewerHistory] = {}

    async def sees(self, child: RelationRow) -> bool:
        if child.sender in self.ignored:
            return False
        history = self._histories.get(child.room_id)
        if history is None:
            history = self._histories[child.room_id] = await self.visibility.history(child.room_id, self.user_id)
        return history.event_visible(child.stream_ordering, child.type, None, self.user_id)


async def receipt_fits_thread_of(store: Store, room_id: str, event_id: str, thread_id: str) -> bool:
    """Whether a read receipt on the event may name this thread ("main" or a root), read from the index."""
    chain: list[Relation] = []
    current = event_id
    for _ in range(RECURSION_DEPTH):
        found = await store.relations.relation_of(current)
        if found is None or found.room_id != room_id:
            break
        chain.append(Relation(found.rel_type, found.relates_to_id))
        current = found.relates_to_id
    exists = thread_id != "main" and bool(await store.relations.page(
        thread_id, room_id, THREAD, None, 0, MAX_POSITION, 1, False, False))
    return receipt_fits_thread(event_id, chain, thread_id, exists)


class RelationService:
    """Aggregates child events for the events served, and pages relations and threads."""

    def __init__(self, store: Store, visibility: HistoryVisibility, ignored: IgnoredUsers) -> None:
        self.store = store
        self.visibility = visibility
        self.ignored = ignored

    # --- bundled aggregations -------------------------------------------------------------

    async def attach(self, user_id: str, served: Served, now_ms: int) -> None:
        """Put each served event's aggregations under its unsigned["m.relations"] (in place)."""
        if not served:
            return
        viewer = _Viewer(user_id, await self.ignored.of(user_id), self.visibility)
        bundles = await self._bundles(viewer, [row for row, _ in served], now_ms, threads=True)
        for row, event in served:
            bundle = bundles.get(row.event_id)
            unsigned = event.get("unsigned")
            if bundle and isinstance(unsigned, dict):
                unsigned["m.relations"] = bundle

    async def _bundles(
        self, viewer: _Viewer, rows: Sequence[EventRow], now_ms: int, threads: bool,
    ) -> dict[str, dict[str, Any]]:
        parents: dict[str, EventRow] = {}
        for row in rows:
            relation = relation_of(row.pdu.get("content"))
            # State events get no aggregations; an edit or a reaction is nobody's parent.
            if "state_key" not in row.pdu and (relation is None or relation.rel_type not in NO_BUNDLE):
                parents[row.event_id] = row
        if not parents:
            return {}
        wanted = AGGREGATED if threads else (REPLACE, REFERENCE)
        by_parent: dict[str, list[RelationRow]] = defaultdict(list)
        for child in await self.store.relations.children(list(parents), wanted):
            parent = parents[child.relates_to_id]
            if child.room_id == parent.pdu["room_id"] and await viewer.sees(child):
                by_parent[child.relates_to_id].append(child)
        if not by_parent:
            return {}
        to_read: set[str] = set()
        for parent_id, children in by_parent.items():
            parent = parents[parent_id]
            for child in children:
                if child.rel_type == REPLACE and parent.redacted_by is None and child.sender == parent.pdu["sender"] \
                        and child.type == parent.pdu["type"]:
                    to_read.add(child.event_id)
            replies = [c for c in children if c.rel_type == THREAD]
            if replies and relation_of(parent.pdu.get("content")) is None:
                to_read.add(replies[-1].event_id)
        events = await self.store.events.get_events(sorted(to_read))
        bundles: dict[str, dict[str, Any]] = {}
        latest_of: dict[str, EventRow] = {}
        for parent_id, children in by_parent.items():
            parent = parents[parent_id]
            bundle: dict[str, Any] = {}
            edits = [events[c.event_id] for c in children if c.rel_type == REPLACE and c.event_id in events]
            edits = [e for e in edits if valid_edit(parent.pdu, e.pdu)]
            pick = latest_edit([(int(e.pdu["origin_server_ts"]), e.event_id) for e in edits])
            if pick is not None:
                bundle[REPLACE] = client_event(edits[pick], now_ms)
            references = [{"event_id": c.event_id} for c in children if c.rel_type == REFERENCE]
            if references:
                bundle[REFERENCE] = {"chunk": references}
            replies = [c for c in children if c.rel_type == THREAD]
            if replies and replies[-1].event_id in events:
                latest_of[parent_id] = events[replies[-1].event_id]
                bundle[THREAD] = {
                    "count": len(replies),
                    "current_user_participated": parent.pdu["sender"] == viewer.user_id
                    or any(c.sender == viewer.user_id for c in replies),
                }
            if bundle:
                bundles[parent_id] = bundle
        if latest_of:
            # The latest reply is served with its own aggregations (its edits), one level deep.
            inner = await self._bundles(viewer, list(latest_of.values()), now_ms, threads=False)
            for parent_id, latest in latest_of.items():
                bundles[parent_id][THREAD]["latest_event"] = client_event(
                    latest, now_ms, relations=inner.get(latest.event_id))
        return bundles

    # --- GET /relations -------------------------------------------------------------------

    async def serve(self, viewer: tuple[str, str], rows: Sequence[EventRow], now_ms: int) -> list[dict[str, Any]]:
        """Events as a client gets them from a page of its own: each with its aggregations."""
        served = [(r, client_event(r, now_ms, viewer)) for r in rows]
        await self.attach(viewer[0], served, now_ms)
        return [event for _, event in served]

    async def relations(
        self, viewer: tuple[str, str], room_id: str, parent_id: str, rel_type: str | None, event_type: str | None,
        from_position: int | None, to_position: int | None, limit: int, descending: bool, recurse: bool,
        now_ms: int,
    ) -> RelationsPage:
        """The children of an event the user can see, a page at a time; 404 when they can't see the parent."""
        user_id = viewer[0]
        try:
            ceiling = await self.visibility.readable_upto(room_id, user_id)
        except MatrixError as e:
            raise not_found("Event not found") from e  # never in the room: as if there were no room
        parent = await self.store.events.get_event(parent_id)
        if parent is None or parent.pdu["room_id"] != room_id or parent.stream_ordering > ceiling \
                or not await self.visibility.visible(room_id, user_id, [parent]):
            raise not_found("Event not found")
        if descending:
            upto = min(ceiling, MAX_POSITION if from_position is None else from_position)
            after = to_position or 0
        else:
            after = from_position or 0
            upto = ceiling if to_position is None else min(to_position, ceiling)
        read = await self.store.relations.page(parent_id, room_id, rel_type, event_type, after, upto, limit,
                                               descending, recurse)
        next_position = None
        if len(read) == limit:
            next_position = read[-1].stream_ordering - 1 if descending else read[-1].stream_ordering
        reader = _Viewer(user_id, await self.ignored.of(user_id), self.visibility)
        shown = [r.event_id for r in read if await reader.sees(r)]
        events = await self.store.events.get_events(shown)
        rows = [events[e] for e in shown if e in events]
        return RelationsPage(await self.serve(viewer, rows, now_ms), next_position,
                             RECURSION_DEPTH if recurse else None)

    # --- GET /threads ---------------------------------------------------------------------

    async def threads(
        self, viewer: tuple[str, str], room_id: str, participated: bool, limit: int, from_position: int | None,
        now_ms: int,
    ) -> ThreadsPage:
        """The room's thread roots the user can see, latest activity first (403 for a non-member, as
        for a room that does not exist)."""
        user_id = viewer[0]
        ceiling = await self.visibility.readable_upto(room_id, user_id)
        # A former member orders threads by the replies they saw, not by what came after.
        upto = None if ceiling >= self.store.events.max_stream_ordering() else ceiling
        before = MAX_POSITION if from_position is None else from_position
        found = await self.store.relations.threads(room_id, before, upto, limit, user_id if participated else None)
        next_position = found[-1].latest_stream_ordering if len(found) == limit else None
        events = await self.store.events.get_events([t.root_id for t in found])
        roots = [events[t.root_id] for t in found if t.root_id in events]
        roots = await self.visibility.visible(room_id, user_id, roots)
        ignored = await self.ignored.of(user_id)
        # A root by an ignored user is shown redacted, as a client aggregating itself would see it.
        roots = [r._replace(pdu=redact(r.pdu)) if r.pdu["sender"] in ignored else r for r in roots]
        return ThreadsPage(await self.serve(viewer, roots, now_ms), next_position)
