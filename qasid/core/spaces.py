"""Spaces: the room hierarchy under a space (Client-Server API "Spaces"), and a room's summary (MSC3266).

Both show only rooms the user may see or join (room_preview.preview_access); a room open to
anyone is shown to an official only when its creator is within their directory scope (the
organisation's Policy.visible_in_directory), so a space cannot be used to discover rooms of
units the official may not look into. A room the user may not see answers as a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qasid.core.errors import forbidden, invalid_param, not_found
from qasid.core.membership import joined_rooms
from qasid.core.room_preview import OPEN, StateMap, full_summary, preview_access
from qasid.core.room_snapshot import RoomSnapshot
from qasid.core.rooms import RoomService

SPACE_CHILD = "m.space.child"
SPACE = "m.space"
DEFAULT_LIMIT = 50
MAX_LIMIT = 50
DEFAULT_MAX_DEPTH = 10
MAX_MAX_DEPTH = 10
# Bounds on one walk: the children read of each space, and the rooms walked in all.
MAX_CHILDREN_PER_SPACE = 50
MAX_ROOMS_WALKED = 1000
_MAX_ORDER_LENGTH = 50


def _valid_order(order: object) -> str | None:
    """A child's `order`, if it is what the spec allows: up to 50 printable ASCII characters."""
    if isinstance(order, str) and len(order) <= _MAX_ORDER_LENGTH and all(0x20 <= ord(c) <= 0x7E for c in order):
        return order
    return None


def space_children(state: StateMap, suggested_only: bool) -> list[Mapping[str, Any]]:
    """The space's m.space.child events that name a child (content.via a non-empty list), in the
    spec's order: by `order` (those with one first), then by origin_server_ts, then by room ID."""
    children = []
    for (event_type, state_key), event in state.items():
        if event_type != SPACE_CHILD or not state_key.startswith("!"):
            continue
        content = event.get("content")
        if not isinstance(content, Mapping):
            continue
        via = content.get("via")
        if not isinstance(via, list) or not via:
            continue  # a child event without `via` is a removed child
        if suggested_only and content.get("suggested") is not True:
            continue
        children.append(event)

    def key(event: Mapping[str, Any]) -> tuple[int, str, int, str]:
        order = _valid_order(event["content"].get("order"))
        ts = event.get("origin_server_ts")
        return (0 if order is not None else 1, order or "", ts if isinstance(ts, int) else 0, event["state_key"])

    return sorted(children, key=key)


def stripped_child(event: Mapping[str, Any]) -> dict[str, Any]:
    """A child event as children_state carries it: stripped state plus origin_server_ts."""
    return {key: event[key] for key in ("type", "state_key", "sender", "content", "origin_server_ts")
            if key in event}


@dataclass(frozen=True)
class HierarchyToken:
    """Where the next page starts, and the parameters the walk was made with (they may not change)."""

    offset: int
    max_depth: int
    suggested_only: bool

    def encode(self) -> str:
        return f"{self.offset}_{self.max_depth}_{int(self.suggested_only)}"

    @classmethod
    def decode(cls, token: str) -> HierarchyToken:
        """Parse a `from` token; M_INVALID_PARAM if it is not one of ours."""
        parts = token.split("_")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts) \
                or parts[2] not in ("0", "1"):
            raise invalid_param("Unknown pagination token")
        return cls(int(parts[0]), int(parts[1]), parts[2] == "1")


class Spaces:
    """Answers /hierarchy and /room_summary from the rooms held in memory."""

    def __init__(self, rooms: RoomService) -> None:
        self.rooms = rooms

    async def _joined_rooms(self, user_id: str) -> set[str]:
        return set(await joined_rooms(self.rooms, user_id))

    async def _may_preview(self, room: RoomSnapshot, user_id: str, joined_rooms: set[str]) -> bool:
        access = preview_access(room.state, user_id, joined_rooms)
        if access is None:
            return False
        if access != OPEN:
            return True
        creator = room.state.get(("m.room.create", ""), {}).get("sender")
        return isinstance(creator, str) and (
            creator == user_id or await self.rooms.policy.visible_in_directory(user_id, creator))

    async def hierarchy(
        self, user_id: str, room_id: str, *, suggested_only: bool, max_depth: int | None, limit: int | None,
        from_token: str | None,
    ) -> dict[str, Any]:
        """One page of the space tree under `room_id`, depth first, each child room in the spec's order."""
        depth_cap = DEFAULT_MAX_DEPTH if max_depth is None else min(max_depth, MAX_MAX_DEPTH)
        offset = 0
        if from_token is not None:
            token = HierarchyToken.decode(from_token)
            if token.max_depth != depth_cap or token.suggested_only != suggested_only:
                raise invalid_param("max_depth and suggested_only must not change while paginating")
            offset = token.offset
        page_size = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        joined_rooms = await self._joined_rooms(user_id)
        root = await self.rooms.snapshot(room_id)
        if root is None or not await self._may_preview(root, user_id, joined_rooms):
            # The same answer for a room that does not exist: no oracle of which rooms do.
            raise forbidden("You may not view this room's hierarchy")
        rooms = await self._walk(user_id, room_id, suggested_only, depth_cap, joined_rooms, offset + page_size + 1)
        page: dict[str, Any] = {"rooms": rooms[offset:offset + page_size]}
        if len(rooms) > offset + page_size:
            page["next_batch"] = HierarchyToken(offset + page_size, depth_cap, suggested_only).encode()
        return page

    async def _walk(
        self, user_id: str, root_id: str, suggested_only: bool, max_depth: int, joined_rooms: set[str], wanted: int,
    ) -> list[dict[str, Any]]:
        """Up to `wanted` rooms of the tree the user may see, depth first from the root; a room is
        listed once, and a room the user may not see is neither listed nor walked into."""
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        stack: list[tuple[str, int]] = [(root_id, 0)]
        walked = 0
        while stack and len(found) < wanted and walked < MAX_ROOMS_WALKED:
            room_id, depth = stack.pop()
            if room_id in seen:
                continue
            seen.add(room_id)
            walked += 1
            room = await self.rooms.snapshot(room_id)
            if room is None or not await self._may_preview(room, user_id, joined_rooms):
                continue
            entry = full_summary(room_id, room.state, len(room.members("join")))
            children = space_children(room.state, suggested_only)[:MAX_CHILDREN_PER_SPACE] \
                if entry.get("room_type") == SPACE else []
            entry["children_state"] = [stripped_child(event) for event in children]
            found.append(entry)
            if depth < max_depth:
                stack.extend((event["state_key"], depth + 1) for event in reversed(children))
        return found

    async def room_summary(self, user_id: str, room_id: str) -> dict[str, Any]:
        """MSC3266: the room's summary and the user's membership; 404 unless the user may see or join it."""
        room = await self.rooms.snapshot(room_id)
        if room is None or not await self._may_preview(room, user_id, await self._joined_rooms(user_id)):
            raise not_found("Room not found")
        entry = full_summary(room_id, room.state, len(room.members("join")))
        entry["membership"] = room.membership(user_id)
        return entry

