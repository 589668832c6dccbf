"""The user's room list for sliding sync: which rooms, in which order, and what each list holds. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from qasid.core.sliding_sync.request import ListFilters, ListRequest


class RoomEntry(NamedTuple):
    """One room of the user's list and the facts the filters and ordering read (a tuple: a
    phone's first request makes one for each of its hundreds of rooms)."""

    room_id: str
    membership: str
    membership_pos: int  # stream position of the user's membership event
    bump_stamp: int
    is_dm: bool
    is_encrypted: bool
    room_type: str | None
    name: str | None


@dataclass(frozen=True)
class ListResult:
    """A list's total (ignoring its ranges) and the rooms its ranges select, in order."""

    count: int
    room_ids: list[str]


def listed_memberships(
    memberships: list[tuple[str, str, int, bool]], previously_sent: Mapping[str, Any], since: int | None,
) -> list[tuple[str, str, int]]:
    """(room_id, membership, position) of the rooms that belong in the user's list.

    Joined, invited and knocked rooms; a room left, kicked or banned from only if this
    connection sent it before, or the leave is new since the connection's last position (so
    the client learns of it); never a forgotten one.
    """
    listed = []
    for room_id, membership, position, forgotten in memberships:
        current = membership in ("join", "invite", "knock")
        recently_left = membership in ("leave", "ban") and not forgotten and (
            room_id in previously_sent or (since is not None and position > since))
        if current or recently_left:
            listed.append((room_id, membership, position))
    return listed


def order_rooms(entries: list[RoomEntry]) -> list[RoomEntry]:
    """Most recent activity first; the room ID breaks ties so the order is stable."""
    return sorted(entries, key=lambda e: (-e.bump_stamp, e.room_id))


def matches(entry: RoomEntry, filters: ListFilters, tags_of: Callable[[str], set[str]],
            space_children: frozenset[str] | None) -> bool:
    """Whether a room passes a list's filters (all of them: they are ANDed)."""
    if filters.is_dm is not None and entry.is_dm != filters.is_dm:
        return False
    if filters.is_encrypted is not None and entry.is_encrypted != filters.is_encrypted:
        return False
    if filters.is_invite is not None and (entry.membership == "invite") != filters.is_invite:
        return False
    if filters.room_types is not None and entry.room_type not in filters.room_types:
        return False
    if entry.room_type in filters.not_room_types:
        return False
    if filters.room_name_like is not None and filters.room_name_like not in (entry.name or "").casefold():
        return False
    if space_children is not None and entry.room_id not in space_children:
        return False
    if filters.tags is not None or filters.not_tags:
        tags = tags_of(entry.room_id)
        if filters.not_tags and tags & set(filters.not_tags):
            return False
        if filters.tags is not None and not tags & set(filters.tags):
            return False
    return True


def window(request: ListRequest, ordered: list[RoomEntry], tags_of: Callable[[str], set[str]],
           space_children: frozenset[str] | None) -> ListResult:
    """The list's count and the room IDs its ranges cover (every room without ranges)."""
    matching = [e.room_id for e in ordered if matches(e, request.filters, tags_of, space_children)]
    if request.ranges is None:
        return ListResult(len(matching), matching)
    chosen: dict[str, None] = {}
    for start, end in request.ranges:
        for room_id in matching[start:end + 1]:
            chosen[room_id] = None
    return ListResult(len(matching), list(chosen))
