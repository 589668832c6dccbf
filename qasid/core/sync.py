"""/sync: what a device has not yet seen, from every stream; it waits when there is nothing.

A sync token is the tuple of stream positions the device has seen:
`s{events}_{receipts}_{account_data}_{to_device}_{device_lists}_{typing}_{presence}`
(a token of the first six, issued before presence was a stream, still parses).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.device_lists import device_list_updates
from qasid.core.e2ee import E2eeService
from qasid.core.errors import MatrixError
from qasid.core.filters import Filter
from qasid.core.invite_blocking import invites_blocked
from qasid.core.lazy_members import LazyMembers
from qasid.core.membership import stripped_state
from qasid.core.notifier import Notifier, Receive, deadline_for
from qasid.core.presence import PresenceService
from qasid.core.push import PushService
from qasid.core.relations import RelationService, Served
from qasid.core.rooms import RoomService
from qasid.core.sync_rooms import STATE_AFTER, RoomSections
from qasid.core.userdata import UserDataService
from qasid.core.visibility import HistoryVisibility
from qasid.store.sqlite import Store

MAX_TIMEOUT_MS = 60_000
MAX_POSITION = 2**63 - 1
_POSITION = r"(0|[1-9][0-9]{0,18})"
_SYNC_TOKEN = re.compile("s" + "_".join([_POSITION] * 6) + f"(?:_{_POSITION})?")
TO_DEVICE_LIMIT = 100


class SyncToken(NamedTuple):
    """Positions in each stream that a device has seen (a tuple: several are made per sync)."""

    events: int = 0
    receipts: int = 0
    account_data: int = 0
    to_device: int = 0
    device_lists: int = 0
    typing: int = 0
    presence: int = 0

    def encode(self) -> str:
        return (f"s{self.events}_{self.receipts}_{self.account_data}_{self.to_device}"
                f"_{self.device_lists}_{self.typing}_{self.presence}")


def parse_sync_token(token: str) -> SyncToken:
    """The positions in a token from `SyncToken.encode`; M_INVALID_PARAM otherwise."""
    match = _SYNC_TOKEN.fullmatch(token)
    # Positions go straight into SQL: beyond SQLite's integers they would fail there, not here.
    parts = [int(p) for p in match.groups() if p is not None] if match else []
    if not parts or any(p > MAX_POSITION for p in parts):
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid sync token")
    return SyncToken(*parts)


@dataclass(frozen=True)
class SyncRequest:
    """One /sync call, parsed."""

    user_id: str
    device_id: str
    since: SyncToken | None
    timeout_ms: int
    full_state: bool
    timeline_limit: int
    filter: Filter = field(default_factory=Filter)
    # MSC4222 (Element Call asks for it): `org.matrix.msc4222.state_after` replaces `state`, holding
    # the state at the end of the timeline (changes since `since`, even those in the timeline).
    use_state_after: bool = False
    # Spec v1.16 made it stable: asked as `use_state_after`, it is answered as `state_after`.
    state_after_key: str = STATE_AFTER


class SyncService:
    """Builds /sync responses from the streams; long-polls on the notifier."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock, notifier: Notifier,
        rooms: RoomService, e2ee: E2eeService, userdata: UserDataService, push: PushService,
        visibility: HistoryVisibility, relations: RelationService,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.e2ee = e2ee
        self.userdata = userdata
        self.push = push
        self.visibility = visibility
        self.relations = relations
        self.presence = PresenceService(store, clock, notifier, rooms, userdata)
        self.lazy_members = LazyMembers()
        self.sections = RoomSections(store, rooms, push, visibility, self.lazy_members)
        # (user, device) -> (the last complete token it was given, the user's notifier version
        # read before that answer was built)
        self._issued: dict[tuple[str, str], tuple[str, int]] = {}
        # (user, device) -> when it was last answered with something new (monotonic seconds)
        self._answered_at: dict[tuple[str, str], float] = {}

    def current_token(self) -> SyncToken:
        """The positions of everything committed so far."""
        streams = self.store.streams.positions()
        return SyncToken(
            events=self.store.events.max_stream_ordering(),
            receipts=streams.receipts,
            account_data=streams.account_data,
            to_device=streams.to_device,
            device_lists=streams.device_lists,
            typing=self.userdata.typing_position(),
            presence=streams.presence,
        )

    async def sync(self, request: SyncRequest, receive: Receive | None = None) -> dict[str, Any]:
        """Answer at once if anything is new (or this is an initial sync), else wait until something is.

        `receive` is the request's ASGI receive: a wait ends with ClientGone once the client has gone.
        """
        if request.since is not None and request.since.events > self.store.events.max_stream_ordering():
            # A token from another worker, ahead of what this one has applied of its commits.
            self.store.events.catch_up()
        if request.since is not None:
            # The device has seen everything up to this token: its to-device messages can go.
            await self.e2ee.ack_to_device(request.user_id, request.device_id, request.since.to_device)
        deadline = deadline_for(receive, min(request.timeout_ms, MAX_TIMEOUT_MS) / 1000)
        device = (request.user_id, request.device_id)
        since = request.since.encode() if request.since is not None and not request.full_state else None
        while True:
            seen_version = self.notifier.version(request.user_id)
            remaining = deadline - time.monotonic()
            closing = self.notifier.closing
            if remaining > 0 and since is not None and not closing and self._issued.get(device) == (since, seen_version):
                # The device holds the complete answer we built last, and nothing has been
                # committed for this user since: the long-poll waits without reading anything.
                await self.notifier.wait(request.user_id, seen_version, remaining, receive)
                continue
            if since is not None and remaining > 0:
                await self._pace(device, remaining)
                seen_version = self.notifier.version(request.user_id)
            response, has_news = await self._build(request)
            remaining = deadline - time.monotonic()
            if has_news or request.since is None or request.full_state or remaining <= 0 or closing:
                if len(response["to_device"]["events"]) < TO_DEVICE_LIMIT:
                    self._issued[device] = (response["next_batch"], seen_version)
                if has_news:
                    self._answered_at[device] = time.monotonic()
                return response
            await self.notifier.wait(request.user_id, seen_version, remaining, receive)

    async def _pace(self, device: tuple[str, str], remaining: float) -> None:
        """Hold a long-poll until the device's last answer is `sync_pace_ms` old.

        A client re-polls the moment it is answered; on a busy server the next event is often
        a few milliseconds behind, and answering each on its own costs a whole request. The
        pause bounds how often one device is answered and never delays a quiet device.
        """
        answered_at = self._answered_at.get(device)
        if answered_at is None:
            return
        pause = answered_at + self.settings.sync_pace_ms / 1000 - time.monotonic()
        if pause <= 0:
            del self._answered_at[device]
            return
        # A client gone meanwhile is found by the wait that follows (its receive() answers at once).
        await asyncio.sleep(min(pause, remaining))

    async def _build(self, request: SyncRequest) -> tuple[dict[str, Any], bool]:
        since = request.since
        now = self.clock.now_ms()
        upto = self.current_token()
        user_id = request.user_id
        memberships = await self.store.events.memberships_of_user(user_id)
        joined = [room_id for room_id, membership, _, _ in memberships if membership == "join"]
        join: dict[str, Any] = {}
        invite: dict[str, Any] = {}
        knock: dict[str, Any] = {}
        leave: dict[str, Any] = {}
        newly_shared: set[str] = set()
        newly_left: set[str] = set()
        since_events = since.events if since else 0
        changed_rooms = (
            await self.store.events.rooms_with_events_after(joined, since_events, upto.events)
            if since and not request.full_state else set(joined)
        )
        # A stream whose end has not moved past the token has nothing to read.
        receipts = (await self.userdata.receipts_since(joined, since.receipts if since else 0, viewer=user_id)
                    if since is None or since.receipts < upto.receipts else {})
        typing = self.userdata.typing_since(joined, since.typing if since else 0)
        global_data, room_data = (
            await self.userdata.account_data_since(user_id, since.account_data if since else None)
            if since is None or since.account_data < upto.account_data else ([], {}))

        viewer = (user_id, request.device_id)
        ignored = await self.userdata.ignored.of(user_id)
        blocked = await invites_blocked(self.store.userdata, user_id)  # pending invitations stay unsent
        if ignored:
            typing = _without_typists(typing, ignored)
        sync_filter = request.filter
        room_filter = sync_filter.room
        if since is None or request.full_state or self._issued.get(viewer, ("",))[0] != since.encode():
            # From scratch, or a retry of an older token whose answer may never have arrived.
            self.lazy_members.forget_device(viewer)
        # Timelines whose events get their aggregations, all read at once after the rooms are built.
        bundled: list[Served] = []
        for room_id, membership, stream_ordering, forgotten in memberships:
            if not room_filter.allows_room(room_id):
                continue
            fresh = since is None or request.full_state or stream_ordering > since_events
            if membership == "join":
                ephemeral = room_filter.ephemeral.apply(
                    [e for e in (typing.get(room_id), receipts.get(room_id)) if e])
                room_account_data = room_filter.account_data.apply(room_data.get(room_id, []))
                if room_id not in changed_rooms and not ephemeral and not room_account_data:
                    continue
                # A member event after `since` is a join only if the user was not joined then:
                # a new display name or avatar is a join too, and must not resend the room.
                newly_joined = since is not None and not request.full_state and stream_ordering > since_events \
                    and (await self.visibility.history(room_id, user_id)).membership_after(since_events) != "join"
                from_scratch = since is None or request.full_state or newly_joined
                section, shown = await self.sections.joined_room(
                    viewer, sync_filter, request.timeline_limit, room_id, None if from_scratch else since_events,
                    upto.events, now, stream_ordering, ignored, state_after=request.use_state_after,
                    state_after_key=request.state_after_key)
                state_key = request.state_after_key if request.use_state_after else "state"
                if not (from_scratch or shown or section[state_key]["events"] or ephemeral or room_account_data):
                    continue  # what changed is all filtered out
                section["ephemeral"] = {"events": ephemeral}
                section["account_data"] = {"events": room_account_data}
                join[room_id] = section
                if from_scratch or section["timeline"]["limited"]:
                    # Else the client saw every child arrive, and aggregates them itself (as Synapse).
                    bundled.append(list(zip(shown, section["timeline"]["events"], strict=True)))
                if since is not None and (newly_joined or request.full_state):
                    newly_shared |= self.rooms.joined_members(room_id)
                for row in shown:
                    if row.pdu["type"] == "m.room.member":
                        joined_now = row.pdu["content"].get("membership") == "join"
                        (newly_shared if joined_now else newly_left).add(row.pdu["state_key"])
            elif membership == "invite" and fresh and not blocked:
                room = await self.rooms.snapshot(room_id)
                invite_event = room.state.get(("m.room.member", user_id)) if room is not None else None
                if room is not None and not (invite_event and invite_event.get("sender") in ignored):
                    invite[room_id] = {"invite_state": {"events": stripped_state(room, user_id)}}
            elif membership == "knock" and fresh:
                room = await self.rooms.snapshot(room_id)
                if room is not None:
                    knock[room_id] = {"knock_state": {"events": stripped_state(room, user_id)}}
            elif membership in ("leave", "ban") and not forgotten and (
                (since is not None and stream_ordering > since_events)
                or (room_filter.include_leave and since is None)
            ):
                leave[room_id], shown = await self.sections.left_room(
                    viewer, sync_filter, request.timeline_limit, room_id, since_events, stream_ordering, now,
                    ignored)
                if since is None or leave[room_id]["timeline"]["limited"]:
                    bundled.append(list(zip(shown, leave[room_id]["timeline"]["events"], strict=True)))
                newly_left |= await self._members_at(room_id, stream_ordering)
        await self.relations.attach(user_id, [pair for pairs in bundled for pair in pairs], now)
        global_data = sync_filter.account_data.apply(global_data)
        presence = (await self.presence.events_since(user_id, joined, since.presence if since else None)
                    if since is None or since.presence < upto.presence else [])
        presence = sync_filter.presence.apply(presence)

        to_device, to_device_pos = (
            await self.e2ee.to_device_for(user_id, request.device_id, since.to_device if since else 0,
                                          TO_DEVICE_LIMIT)
            if since is None or since.to_device < upto.to_device else ([], since.to_device))
        key_counts, fallback_types = await self.e2ee.key_status(user_id, request.device_id)
        device_lists = await self._device_lists(user_id, since, upto, newly_shared, newly_left)
        next_token = SyncToken(
            events=upto.events, receipts=upto.receipts, account_data=upto.account_data,
            to_device=to_device_pos, device_lists=upto.device_lists, typing=upto.typing, presence=upto.presence,
        )
        response: dict[str, Any] = {
            "next_batch": next_token.encode(),
            "rooms": {"join": join, "invite": invite, "leave": leave, "knock": knock},
            "presence": {"events": presence},
            "account_data": {"events": global_data},
            "to_device": {"events": to_device},
            "device_lists": device_lists,
            "device_one_time_keys_count": key_counts,
            "device_unused_fallback_key_types": fallback_types,
        }
        has_news = bool(join or invite or knock or leave or global_data or to_device or presence
                        or device_lists["changed"] or device_lists["left"])
        return response, has_news

    async def _members_at(self, room_id: str, stream_ordering: int) -> set[str]:
        rows = await self.store.events.state_at(room_id, stream_ordering)
        return {r.pdu["state_key"] for r in rows
                if r.pdu["type"] == "m.room.member" and r.pdu["content"].get("membership") == "join"}

    async def _device_lists(
        self, user_id: str, since: SyncToken | None, upto: SyncToken, newly_shared: set[str],
        newly_left: set[str],
    ) -> dict[str, list[str]]:
        if since is None:
            return {"changed": [], "left": []}
        return await device_list_updates(self.e2ee, self.rooms, user_id, since.device_lists, upto.device_lists,
                                         newly_shared, newly_left)


def _without_typists(typing: dict[str, dict[str, Any]], ignored: frozenset[str]) -> dict[str, dict[str, Any]]:
    """Typing notifications with the ignored users taken out."""
    return {room_id: {"type": "m.typing", "content": {"user_ids": [
        u for u in event["content"]["user_ids"] if u not in ignored]}} for room_id, event in typing.items()}
