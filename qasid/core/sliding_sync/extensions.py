"""Sliding sync extensions: to-device messages, E2EE bookkeeping, account data, receipts, typing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qasid.core.device_lists import device_list_updates
from qasid.core.e2ee import E2eeService
from qasid.core.rooms import RoomService
from qasid.core.sliding_sync.request import ExtensionRequest
from qasid.core.sync import SyncToken
from qasid.core.userdata import UserDataService
from qasid.store.sqlite import Store


@dataclass(frozen=True)
class Scope:
    """The rooms of this response's lists and subscriptions, which per-room extensions cover."""

    room_lists: Mapping[str, frozenset[str]]  # room -> the lists whose windows hold it
    subscribed: frozenset[str]

    def rooms_for(self, request: ExtensionRequest) -> list[str]:
        rooms = set(self.room_lists) | self.subscribed
        return sorted(r for r in rooms
                      if request.covers(r, self.room_lists.get(r, frozenset()), r in self.subscribed))


class Extensions:
    """Builds the `extensions` section; each part only when its extension is enabled."""

    def __init__(self, store: Store, rooms: RoomService, e2ee: E2eeService, userdata: UserDataService) -> None:
        self.store = store
        self.rooms = rooms
        self.e2ee = e2ee
        self.userdata = userdata

    async def build(
        self, user_id: str, device_id: str, requests: Mapping[str, ExtensionRequest], since: SyncToken | None,
        upto: SyncToken, scope: Scope, joined: list[str], newly_joined: set[str], newly_left_rooms: set[str],
    ) -> tuple[dict[str, Any], bool]:
        """The section, and whether it carries anything new."""
        out: dict[str, Any] = {}
        news = False
        if (request := requests.get("to_device")) is not None:
            if request.since is not None:
                # The client has processed everything up to `since`: those messages can go.
                await self.e2ee.ack_to_device(user_id, device_id, request.since)
            acked = request.since or 0
            # Nothing can be waiting past a position the to-device stream has not passed.
            events, position = (await self.e2ee.to_device_for(user_id, device_id, acked, request.limit)
                                if acked < upto.to_device else ([], acked))
            out["to_device"] = {"next_batch": str(position), "events": events}
            news |= bool(events)
        if "e2ee" in requests:
            counts, fallback = await self.e2ee.key_status(user_id, device_id)
            lists = await self._device_lists(user_id, since, upto, joined, newly_joined, newly_left_rooms)
            out["e2ee"] = {"device_lists": lists, "device_one_time_keys_count": counts,
                           "device_unused_fallback_key_types": fallback}
            news |= bool(lists["changed"] or lists["left"])
        if (request := requests.get("account_data")) is not None:
            after = since.account_data if since else None
            global_data, room_data = (await self.userdata.account_data_since(user_id, after)
                                      if after is None or after < upto.account_data else ([], {}))
            rooms = {r: room_data[r] for r in scope.rooms_for(request) if r in room_data}
            out["account_data"] = {"global": global_data, "rooms": rooms}
            news |= bool(global_data or rooms)
        if (request := requests.get("receipts")) is not None:
            after = since.receipts if since else 0
            receipts = (await self.userdata.receipts_since(scope.rooms_for(request), after, viewer=user_id)
                        if since is None or after < upto.receipts else {})
            out["receipts"] = {"rooms": receipts}
            news |= bool(receipts)
        if (request := requests.get("typing")) is not None:
            typing = self.userdata.typing_since(scope.rooms_for(request), since.typing if since else 0)
            out["typing"] = {"rooms": typing}
            news |= bool(typing)
        return out, news

    async def _device_lists(
        self, user_id: str, since: SyncToken | None, upto: SyncToken, joined: list[str], newly_joined: set[str],
        newly_left_rooms: set[str],
    ) -> dict[str, list[str]]:
        if since is None:
            return {"changed": [], "left": []}
        newly_shared: set[str] = set()
        newly_left: set[str] = set()
        for room_id in newly_joined:
            newly_shared |= self.rooms.joined_members(room_id)
        for room_id in newly_left_rooms:
            newly_left |= self.rooms.joined_members(room_id)
        changed_rooms = await self.store.events.rooms_with_events_after(joined, since.events, upto.events)
        with_members = self.store.events.rooms_with_member_events_after(sorted(changed_rooms), since.events, upto.events)
        for _, member, membership in await self.store.events.member_changes(with_members, since.events, upto.events):
            (newly_shared if membership == "join" else newly_left).add(member)
        return await device_list_updates(self.e2ee, self.rooms, user_id, since.device_lists, upto.device_lists,
                                         newly_shared, newly_left)
