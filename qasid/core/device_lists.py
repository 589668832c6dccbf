"""Whose device lists a user must re-read: what /sync and sliding sync both report."""

from __future__ import annotations

from qasid.core.e2ee import E2eeService
from qasid.core.rooms import RoomService


async def device_list_updates(
    e2ee: E2eeService, rooms: RoomService, user_id: str, after: int, upto: int,
    newly_shared: set[str], newly_left: set[str],
) -> dict[str, list[str]]:
    """`changed`: users sharing a room with `user_id` whose devices changed in (after, upto] or who
    newly share one; `left`: users who no longer share any room with them."""
    sharing = rooms.users_sharing_rooms_with(user_id)
    changed = await e2ee.device_list_changes(after, upto) if after < upto else set()
    changed = (changed & sharing) | (newly_shared & sharing)
    left = {u for u in newly_left if u not in sharing}
    return {"changed": sorted(changed), "left": sorted(left - changed)}
