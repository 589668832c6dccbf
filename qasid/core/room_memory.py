"""The rooms a process holds in memory: snapshots and who is in which room, kept in step
with the database, including what other workers commit.

`RoomService` builds on this; only its append path advances the snapshots."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from qasid.core.errors import forbidden, not_found
from qasid.core.room_snapshot import RoomSnapshot
from qasid.store.sqlite import Store


class RoomMemory:
    """Room snapshots (loaded once, then kept current) and the user -> rooms membership index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._rooms: dict[str, RoomSnapshot] = {}
        self._user_rooms: dict[str, set[str]] | None = None
        # Each room's events queued here and not yet committed (or failed).
        self._in_flight: dict[str, set[asyncio.Future[list[int]]]] = {}


    async def snapshot(self, room_id: str) -> RoomSnapshot | None:
        """The room's current state (loaded once, then kept up to date by `append`)."""
        room = self._rooms.get(room_id)
        if room is not None:
            return room
        if await self.store.events.room_version(room_id) is None:
            return None
        room = RoomSnapshot(room_id)
        # The newest event first: a commit landing between the two reads leaves the snapshot's
        # newest event behind its state, which the next append's check in its transaction refuses.
        latest = await self.store.events.latest_event(room_id)
        for row in await self.store.events.current_state(room_id):
            room.set_state((row.pdu["type"], row.pdu["state_key"]), row.pdu, row.event_id)
        if latest is not None:
            room.latest_event_id = latest.event_id
            room.depth = int(latest.pdu["depth"])
        self._rooms[room_id] = room
        return room

    def held(self, room_id: str) -> RoomSnapshot | None:
        """The room's snapshot if this process holds it already (no read; None otherwise)."""
        return self._rooms.get(room_id)

    async def require_room(self, room_id: str) -> RoomSnapshot:
        room = await self.snapshot(room_id)
        if room is None:
            raise not_found("Unknown room")
        return room

    async def is_joined(self, room_id: str, user_id: str) -> bool:
        """True if the user is joined to the room now."""
        room = await self.snapshot(room_id)
        return room is not None and room.membership(user_id) == "join"

    async def require_joined(self, room_id: str, user_id: str) -> RoomSnapshot:
        """The room, if the user is in it; otherwise 403 that reveals nothing about the room."""
        room = await self.snapshot(room_id)
        if room is None or room.membership(user_id) != "join":
            raise forbidden("You are not joined to this room")
        return room

    def joined_members(self, room_id: str) -> set[str]:
        """Joined members of a room already in memory (sync and fan-out use this)."""
        room = self._rooms.get(room_id)
        return room.members("join") if room else set()

    def invited_members(self, room_id: str) -> set[str]:
        """Invited members of a room already in memory."""
        room = self._rooms.get(room_id)
        return room.members("invite") if room else set()

    async def _load_user_rooms(self) -> dict[str, set[str]]:
        if self._user_rooms is None:
            index: dict[str, set[str]] = defaultdict(set)
            for user_id, room_id in await self.store.events.current_members_everywhere():
                index[user_id].add(room_id)
            self._user_rooms = index
        return self._user_rooms

    async def rooms_of(self, user_id: str) -> set[str]:
        """Rooms the user is joined or invited to."""
        return set((await self._load_user_rooms()).get(user_id, ()))

    async def share_a_room(self, user_a: str, user_b: str) -> bool:
        """True if both users are joined to one room (an invitation is not enough)."""
        for room_id in await self.rooms_of(user_a):
            room = await self.snapshot(room_id)
            if room is not None and room.membership(user_a) == "join" and room.membership(user_b) == "join":
                return True
        return False

    def users_sharing_rooms_with(self, user_id: str) -> set[str]:
        """Everyone joined to a room this user is joined to, including the user."""
        index = self._user_rooms or {}
        users = {user_id}
        for room_id in index.get(user_id, ()):
            room = self._rooms.get(room_id)
            if room is not None and room.membership(user_id) == "join":
                users |= room.members("join")
        return users

    async def warm(self) -> None:
        """Load membership index and the state of every room with a joined member."""
        index = await self._load_user_rooms()
        for room_id in {r for rooms in index.values() for r in rooms}:
            await self.snapshot(room_id)

    # --- what other workers commit -------------------------------------------------------

    def committed_elsewhere(self, changes: list[tuple[str, str | None, str | None]]) -> None:
        """Another worker committed these (room_id, member user or None, membership) events:
        read the rooms' snapshots again and move the membership index now.

        Until a snapshot is read again, the old one still answers who is in the room; an append
        built on it is refused in its transaction and built again (RoomMoved)."""
        # Rooms held here, and rooms someone joined or was invited to: every room with a member
        # is held in memory (see `warm`), wherever it was created.
        stale = {room_id for room_id, _, membership in changes
                 if room_id in self._rooms or membership in ("join", "invite")}
        if stale:
            asyncio.get_running_loop().create_task(self._reload(stale))
        for room_id, member, membership in changes:
            if member is None or self._user_rooms is None:
                continue
            if membership in ("join", "invite"):
                self._user_rooms.setdefault(member, set()).add(room_id)
            else:
                self._user_rooms.get(member, set()).discard(room_id)

    def _landed(self, room_id: str, committed: asyncio.Future[list[int]]) -> None:
        """A queued event of the room committed or failed: reading the room no longer waits for it."""
        in_flight = self._in_flight.get(room_id)
        if in_flight is not None:
            in_flight.discard(committed)
            if not in_flight:
                del self._in_flight[room_id]

    async def _reload(self, room_ids: set[str]) -> None:
        for room_id in room_ids:
            async with self._locks[room_id]:
                # As in an append: not before this worker's own queued events of the room have landed.
                await asyncio.gather(*self._in_flight.get(room_id, ()), return_exceptions=True)
                old = self._rooms.pop(room_id, None)
                try:
                    await self.snapshot(room_id)
                except Exception:
                    if old is not None and room_id not in self._rooms:
                        self._rooms[room_id] = old
                    raise

    def _membership_changed(self, room: RoomSnapshot, user_id: str) -> None:
        """Move the membership index past the user's member event in `room` (this process's own)."""
        if self._user_rooms is None:
            return
        if room.membership(user_id) in ("join", "invite"):
            self._user_rooms.setdefault(user_id, set()).add(room.room_id)
        else:
            self._user_rooms.get(user_id, set()).discard(room.room_id)
