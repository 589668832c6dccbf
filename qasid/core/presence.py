"""Presence: set by PUT /presence or by syncing, sent through /sync to those who may see it.

A change of state or status message takes the next position of the presence stream and wakes
the long-polls of everyone who shares a room with the user (read from the rooms in memory).
Those who see the user only through the policy's directory scope get it on their next answer.
Syncing only refreshes `last_active_ts` once a minute (without a new position), so a busy
client costs one write a minute, not one a request.
"""

from __future__ import annotations

from typing import Any

from qasid.core.clock import Clock
from qasid.core.errors import forbidden, invalid_param
from qasid.core.notifier import Notifier
from qasid.core.rooms import RoomService
from qasid.core.userdata import MAX_PROFILE_FIELD_CHARS, PRESENCE_STATES, UserDataService
from qasid.store.sqlite import Store
from qasid.store.sqlite.userdata import PresenceRow

LAST_ACTIVE_GRANULARITY_MS = 60_000
# Active within this long: `currently_active`.
CURRENTLY_ACTIVE_MS = 5 * 60_000
MAX_PRESENCE_EVENTS = 500
MAX_CACHED_USERS = 50_000


class PresenceService:
    """Records presence and builds the m.presence events of a sync."""

    def __init__(
        self, store: Store, clock: Clock, notifier: Notifier, rooms: RoomService, userdata: UserDataService,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.userdata = userdata
        # user -> the presence last recorded (None: none ever), so a sync need not read it
        self._known: dict[str, PresenceRow | None] = {}

    async def set_presence(self, requester_id: str, user_id: str, presence: str, status_msg: str | None) -> None:
        """PUT /presence: the requester's own presence and status message."""
        if requester_id != user_id:
            raise forbidden("You cannot access another user's presence")
        if presence not in PRESENCE_STATES:
            raise invalid_param(f"presence must be one of {', '.join(PRESENCE_STATES)}")
        if status_msg is not None and len(status_msg) > MAX_PROFILE_FIELD_CHARS:
            raise invalid_param("status_msg is too long")
        await self._record(user_id, presence, status_msg, announce=True)

    async def synced(self, user_id: str, set_presence: str) -> None:
        """A /sync or sliding sync with `set_presence`: online or unavailable mark the user so;
        offline leaves their presence as it is (the client does not want to be seen online)."""
        if set_presence == "offline":
            return
        known = await self._current(user_id)
        now = self.clock.now_ms()
        if known is None or known.presence != set_presence:
            await self._record(user_id, set_presence, known.status_msg if known else None, announce=True)
        elif now - known.last_active_ts >= LAST_ACTIVE_GRANULARITY_MS:
            await self._record(user_id, set_presence, known.status_msg, announce=False)

    async def _current(self, user_id: str) -> PresenceRow | None:
        if user_id not in self._known:
            if len(self._known) >= MAX_CACHED_USERS:
                self._known.clear()
            self._known[user_id] = await self.store.userdata.get_presence(user_id)
        return self._known[user_id]

    async def _record(self, user_id: str, presence: str, status_msg: str | None, announce: bool) -> None:
        now = self.clock.now_ms()
        await self.store.userdata.set_presence(user_id, presence, status_msg, now, announce=announce)
        self._known[user_id] = PresenceRow(user_id, presence, status_msg, now)
        if announce:
            self.notifier.notify(await self._sharing_with(user_id))

    async def _sharing_with(self, user_id: str) -> set[str]:
        """The user and everyone joined to a room with them."""
        return self.rooms.users_sharing_rooms_with(user_id) | {user_id}

    async def get_presence(self, viewer: str, user_id: str) -> dict[str, Any]:
        """GET /presence: a local user's presence ("offline" if never set), if the viewer may see them."""
        return await self.userdata.get_presence(viewer, user_id)

    async def events_since(self, viewer: str, joined_rooms: list[str], after: int | None) -> list[dict[str, Any]]:
        """m.presence events for a sync: announced after `after` (None: the current presence of
        everyone sharing a room), of users the viewer may see (`may_see_user`)."""
        sharing = {viewer}
        for room_id in joined_rooms:
            sharing |= self.rooms.joined_members(room_id)
        if after is None:
            rows = await self.store.userdata.presence_of(sorted(sharing)[:MAX_PRESENCE_EVENTS])
        else:
            rows = [r for r in await self.store.userdata.presence_after(after, MAX_PRESENCE_EVENTS)
                    if r.user_id in sharing or await self.userdata.may_see_user(viewer, r.user_id)]
        now = self.clock.now_ms()
        return [presence_event(r, now) for r in rows]


def presence_event(row: PresenceRow, now_ms: int) -> dict[str, Any]:
    """The m.presence event of one user's recorded presence."""
    last_active_ago = max(0, now_ms - row.last_active_ts)
    content: dict[str, Any] = {
        "presence": row.presence,
        "last_active_ago": last_active_ago,
        "currently_active": row.presence == "online" and last_active_ago < CURRENTLY_ACTIVE_MS,
    }
    if row.status_msg is not None:
        content["status_msg"] = row.status_msg
    return {"type": "m.presence", "sender": row.user_id, "content": content}
