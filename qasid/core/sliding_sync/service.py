"""Simplified Sliding Sync (MSC4186): lists and subscriptions over the same streams as /sync.

Each request resumes its connection at `pos`, builds what changed since, and waits on the same
notifier as /sync when nothing did.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

from qasid.core.clock import Clock
from qasid.core.invite_blocking import invites_blocked
from qasid.core.notifier import Notifier, Receive, deadline_for
from qasid.core.relations import RelationService
from qasid.core.rooms import RoomService
from qasid.core.sliding_sync.connection import MAX_CONNECTIONS, Connections, ConnectionState, RoomSent
from qasid.core.sliding_sync.extensions import Extensions, Scope
from qasid.core.sliding_sync.request import RoomConfig, SlidingSyncRequest
from qasid.core.sliding_sync.room_list import RoomEntry, listed_memberships, order_rooms, window
from qasid.core.sliding_sync.room_result import Counts, RoomResults, Viewer, merge_required
from qasid.core.sync import MAX_TIMEOUT_MS, SyncService, SyncToken
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import EventRow
from qasid.store.sqlite.userdata import GLOBAL


class SlidingSyncService:
    """Answers sliding sync requests; keeps each connection's memory (connection.py)."""

    def __init__(
        self, store: Store, clock: Clock, notifier: Notifier, rooms: RoomService, sync: SyncService,
        visibility: HistoryVisibility, extensions: Extensions, counts: Counts, relations: RelationService,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.sync = sync
        self.extensions = extensions
        self.results = RoomResults(store, rooms, visibility, counts)
        self.relations = relations
        self.connections = Connections()
        # Connection -> when it was last answered with something new (monotonic seconds).
        self._answered_at: dict[tuple[str, str, str], float] = {}

    async def sliding_sync(
        self, user_id: str, device_id: str, request: SlidingSyncRequest, receive: Receive | None = None,
    ) -> dict[str, Any]:
        """A connection's next response: at once on its first request or when anything is new,
        else after waiting up to `timeout` ms for something to be."""
        connection, base = self.connections.resume(user_id, device_id, request.conn_id, request.pos)
        wait_s = min(request.timeout_ms, MAX_TIMEOUT_MS) / 1000 if base is not None else 0
        deadline = deadline_for(receive, wait_s)
        shape = request.shape()
        while True:
            seen_version = self.notifier.version(user_id)
            remaining = deadline - time.monotonic()
            if base is not None and remaining > 0 and not self.notifier.closing \
                    and base.built_at == (seen_version, shape):
                # The client holds what was built for this very request, and nothing has been
                # committed for this user since: the long-poll waits without reading anything.
                await self.notifier.wait(user_id, seen_version, remaining, receive, kind="sliding_sync")
                continue
            if base is not None and remaining > 0:
                await self._pace(connection.key, remaining)
                seen_version = self.notifier.version(user_id)
            response, state, news = await self._build(user_id, device_id, request, base)
            remaining = deadline - time.monotonic()
            if news or remaining <= 0 or self.notifier.closing:
                if not state.truncated:
                    state = replace(state, built_at=(seen_version, shape))
                response["pos"] = self.connections.record(connection, state)
                if news:
                    if len(self._answered_at) >= MAX_CONNECTIONS:
                        self._answered_at.clear()  # bounded; forgetting only skips one pause
                    self._answered_at[connection.key] = time.monotonic()
                if request.txn_id is not None:
                    response["txn_id"] = request.txn_id
                return response
            await self.notifier.wait(user_id, seen_version, remaining, receive, kind="sliding_sync")

    async def _pace(self, key: tuple[str, str, str], remaining: float) -> None:
        """Hold a long-poll until the connection's last answer is `sync_pace_ms` old, as /sync does:
        a phone re-polls at once, and the next event is often a few milliseconds behind."""
        answered_at = self._answered_at.get(key)
        if answered_at is None:
            return
        pause = answered_at + self.sync.settings.sync_pace_ms / 1000 - time.monotonic()
        if pause <= 0:
            del self._answered_at[key]
            return
        await asyncio.sleep(min(pause, remaining))  # a client gone meanwhile: the next wait finds it

    async def _build(
        self, user_id: str, device_id: str, request: SlidingSyncRequest, base: ConnectionState | None,
    ) -> tuple[dict[str, Any], ConnectionState, bool]:
        upto = self.sync.current_token()
        since = base.token if base is not None else None
        previously = base.rooms if base is not None else {}
        memberships = await self.store.events.memberships_of_user(user_id)
        listed = listed_memberships(memberships, previously, since.events if since else None)
        dm_rooms = await self._dm_rooms(user_id, base, upto)
        entries = await self._entries(user_id, listed, dm_rooms)
        by_id = {e.room_id: e for e in entries}
        ordered = order_rooms(entries)

        configs: dict[str, list[RoomConfig]] = defaultdict(list)
        room_lists: dict[str, set[str]] = defaultdict(set)
        lists_out: dict[str, Any] = {}
        wants_tags = any(r.filters.tags is not None or r.filters.not_tags for r in request.lists.values())
        tags = await self._tags(user_id) if wants_tags else {}
        for key, list_request in request.lists.items():
            spaces = await self._space_children(user_id, list_request.filters.spaces)
            selected = window(list_request, ordered, lambda room_id: tags.get(room_id, set()), spaces)
            lists_out[key] = {"count": selected.count}
            for room_id in selected.room_ids:
                configs[room_id].append(list_request.config)
                room_lists[room_id].add(key)
        subscribed = {room_id for room_id in request.room_subscriptions if room_id in by_id}
        for room_id in subscribed:
            configs[room_id].append(request.room_subscriptions[room_id])

        recount = await self._receipts_moved(user_id, since, upto, list(configs))
        viewer = Viewer(user_id, device_id, since.events if since else None, upto.events, self.clock.now_ms(),
                        await self.sync.userdata.ignored.of(user_id))
        rooms_out: dict[str, Any] = {}
        sent_now: dict[str, RoomSent] = dict(previously)
        bundled: list[tuple[EventRow, dict[str, Any]]] = []
        merged = {room_id: merge_required(room_configs) for room_id, room_configs in configs.items()}
        prefetched = await self.results.prefetch(user_id, [
            (r, config.required_state) for r, config in merged.items()
            if by_id[r].membership == "join" and ((prev := previously.get(r)) is None or prev.membership != "join")])
        for room_id, config in merged.items():
            result, sent = await self.results.build(
                viewer, by_id[room_id], config, previously.get(room_id), room_id in recount, bundled, prefetched)
            if sent is not None:
                sent_now[room_id] = sent
            if result is not None:
                rooms_out[room_id] = result

        await self.relations.attach(user_id, bundled, viewer.now_ms)
        joined = [e.room_id for e in entries if e.membership == "join"]
        newly = {e.room_id for e in entries if since is not None and e.membership_pos > since.events}
        scope = Scope({r: frozenset(lists) for r, lists in room_lists.items()}, frozenset(subscribed))
        extensions, extension_news = await self.extensions.build(
            user_id, device_id, request.extensions, since, upto, scope, joined,
            {r for r in newly if by_id[r].membership == "join"},
            {r for r in newly if by_id[r].membership in ("leave", "ban")})
        counts = {key: value["count"] for key, value in lists_out.items()}
        to_device = request.extensions.get("to_device")
        truncated = to_device is not None and len(extensions["to_device"]["events"]) >= to_device.limit
        state = ConnectionState(upto, sent_now, counts, truncated, dm_rooms=dm_rooms)
        news = bool(rooms_out) or extension_news or (base is not None and counts != base.list_counts)
        return {"lists": lists_out, "rooms": rooms_out, "extensions": extensions}, state, news

    async def _dm_rooms(self, user_id: str, base: ConnectionState | None, upto: SyncToken) -> frozenset[str]:
        """The rooms m.direct names; read again only when account data has moved since `base`."""
        if base is not None and base.token.account_data == upto.account_data:
            return base.dm_rooms
        direct = await self.store.userdata.get_account_data(user_id, GLOBAL, "m.direct") or {}
        return frozenset(r for rooms in direct.values() if isinstance(rooms, list) for r in rooms if isinstance(r, str))

    async def _entries(self, user_id: str, listed: list[tuple[str, str, int]], dm_rooms: frozenset[str]) -> list[RoomEntry]:
        """The facts the filters and ordering need, from the rooms held in memory."""
        bumps = self.store.events.bump_stamps([room_id for room_id, membership, _ in listed if membership == "join"])
        entries = []
        ignored = await self.sync.userdata.ignored.of(user_id)
        blocked = await invites_blocked(self.store.userdata, user_id)
        for room_id, membership, position in listed:
            room = self.rooms.held(room_id) or await self.rooms.snapshot(room_id)
            if room is None or (membership == "invite" and blocked):
                continue  # invitations are not shown while the user blocks them (MSC4380)
            if membership == "invite" and room.state.get(("m.room.member", user_id), {}).get("sender") in ignored:
                continue  # invites from ignored users are never sent
            # A room the user is not in is ordered by when their membership changed (MSC4186).
            bump = max(bumps.get(room_id, 0), 1) if membership == "join" else position
            entries.append(RoomEntry(room_id, membership, position, bump, room_id in dm_rooms, room.encrypted,
                                     room.room_type, room.name))
        return entries

    async def _space_children(self, user_id: str, spaces: tuple[str, ...] | None) -> frozenset[str] | None:
        """Rooms named by m.space.child in the given spaces the user is joined to (not navigated further)."""
        if spaces is None:
            return None
        children: set[str] = set()
        for space_id in spaces:
            room = await self.rooms.snapshot(space_id) if space_id.startswith("!") else None
            if room is None or room.membership(user_id) != "join":
                continue
            children |= {key for (event_type, key), pdu in room.state.items()
                         if event_type == "m.space.child" and pdu["content"].get("via")}
        return frozenset(children)

    async def _tags(self, user_id: str) -> dict[str, set[str]]:
        rows = await self.store.userdata.account_data_after(user_id, 0)
        return {row.room_id: set(row.content.get("tags") or {}) for row in rows
                if row.type == "m.tag" and isinstance(row.content.get("tags"), dict)}

    async def _receipts_moved(self, user_id: str, since: SyncToken | None, upto: SyncToken,
                              room_ids: list[str]) -> set[str]:
        """Rooms where the user's own read receipt moved since the connection's last position."""
        if since is None or since.receipts >= upto.receipts:
            return set()
        receipts = await self.sync.userdata.receipts_since(room_ids, since.receipts, viewer=user_id)
        return {room_id for room_id, event in receipts.items()
                if any(user_id in by_user for by_type in event["content"].values() for by_user in by_type.values())}
