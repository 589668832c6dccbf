"""Rooms two users share (spec v1.19, MSC2666): what the caller could already see in each room."""

from __future__ import annotations

from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.ids import is_room_id_shape, parse_user_id
from qasid.core.rooms import RoomService

# Room IDs per page: a caller with thousands of rooms pages through them.
MUTUAL_ROOMS_BATCH = 100


def invalid(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


def page(shared: list[str], after: str | None, limit: int = MUTUAL_ROOMS_BATCH) -> dict[str, Any]:
    """One page of the sorted shared rooms after the token (the last room ID of the previous page)."""
    rest = [room_id for room_id in shared if after is None or room_id > after]
    body: dict[str, Any] = {"joined": rest[:limit], "count": len(shared)}
    if len(rest) > limit:
        body["next_batch"] = rest[limit - 1]
    return body


async def mutual_rooms(rooms: RoomService, user_id: str, other: Any, after: Any) -> dict[str, Any]:
    """Rooms both users are joined to now, sorted by room ID, a page at a time.

    Only rooms the caller is joined to are considered, and there the other's membership is visible
    to them anyway: nothing about the other's remaining rooms (or whether the account exists) leaks.
    """
    if not isinstance(other, str) or not other:
        raise MatrixError(400, "M_MISSING_PARAM" if other is None else "M_INVALID_PARAM", "user_id is required")
    parse_user_id(other)
    if other == user_id:
        raise invalid("user_id is your own user ID")
    if after is not None and (not isinstance(after, str) or not is_room_id_shape(after)):
        raise invalid("from is not a token this endpoint gave")
    shared = []
    for room_id in sorted(await rooms.rooms_of(user_id)):
        room = await rooms.snapshot(room_id)
        if room is not None and room.membership(user_id) == "join" and room.membership(other) == "join":
            shared.append(room_id)
    return page(shared, after)
