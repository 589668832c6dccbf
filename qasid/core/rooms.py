"""Rooms: the append path (one lock per room), current state held in memory (`RoomMemory`).

Every event goes through `append`: under the room's lock it is built against the room's
current state, authorised (room version 11 rules, then policy), hashed and signed, then
durably appended together with its transaction-ID record. Only after the commit is the
in-memory state advanced and are the room's members woken.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signedjson.types import SigningKey

from qasid.config import Settings
from qasid.core import jsonutil
from qasid.core.audit_sink import AuditAppend
from qasid.core.auth_rules import auth_types_for_event, check_event_auth
from qasid.core.clock import Clock
from qasid.core.errors import MatrixError, forbidden, not_found, too_large
from qasid.core.invite_blocking import check_invitation
from qasid.core.notifier import Notifier
from qasid.core.pdu import finalise_pdu, redact
from qasid.core.policy import Policy
from qasid.core.power_levels import PowerLevels
from qasid.core.ratelimit import RateLimiter
from qasid.core.relation_rules import THREAD, relation_of, thread_start_problem
from qasid.core.room_memory import RoomMemory
from qasid.core.room_snapshot import RoomSnapshot, check_event_fields
from qasid.store.sqlite import Store
from qasid.store.sqlite.event_rows import NewEvent, NewRoom
from qasid.store.sqlite.room_order import RoomMoved

if TYPE_CHECKING:
    from qasid.core.push import PushService

MAX_EVENT_BYTES = 65_536
# Tries of an append that other workers keep beating to the room.
MAX_APPEND_ATTEMPTS = 20


@dataclass(frozen=True)
class Txn:
    """Where a client-chosen transaction ID came from: it makes the request idempotent."""

    user_id: str
    device_id: str
    scope: str
    txn_id: str


class RoomService(RoomMemory):
    """Builds, authorises, signs and appends events; answers (through `RoomMemory`) who is in which room."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock, notifier: Notifier,
        signing_key: SigningKey, policy: Policy, ratelimiter: RateLimiter,
    ) -> None:
        super().__init__(store)
        self.settings = settings
        self.clock = clock
        self.notifier = notifier
        self.signing_key = signing_key
        self.policy = policy
        self.ratelimiter = ratelimiter
        # Transactions queued but not yet committed: a retry waits for the first, never duplicates it.
        self._pending_txns: dict[Txn, tuple[str, asyncio.Future[list[int]]]] = {}
        # Rooms being upgraded now: a second upgrade of the same room waits for none, it is refused.
        self.upgrading: set[str] = set()
        # Push rules are evaluated for every event's recipients, into the event's own commit.
        self.push: PushService | None = None
        # Senders whose invitations go through even to users who block them (the server's own account).
        self.invite_blocking_exempt: frozenset[str] = frozenset()

    async def append(
        self, sender: str, room_id: str, event_type: str, content: dict[str, Any],
        state_key: str | None = None, txn: Txn | None = None, redacts: str | None = None,
        also: Sequence[AuditAppend] = (),
    ) -> str:
        """Authorise and durably append one event; returns its event ID (the first one, on a retried txn).

        `also` (an audit entry) commits in the event's own transaction."""
        check_event_fields(event_type, content, state_key)
        if event_type == "m.room.redaction" and redacts is None and state_key is None:
            # Sent through /send (spec v1.18) or as a delayed event: the same checks and effect as /redact.
            redacts = content.get("redacts")
            if not isinstance(redacts, str):
                raise MatrixError(400, "M_BAD_JSON", "A redaction names the event it redacts in content.redacts")
        await self._check_thread(room_id, content)
        for _ in range(MAX_APPEND_ATTEMPTS - 1):
            try:
                return await self._append_once(sender, room_id, event_type, content, state_key, txn, redacts, also)
            except RoomMoved:
                # Another worker appended first: build again on the room as the database has it.
                self.store.events.catch_up()
                continue
            except Exception:
                # A retry of the same transaction ID committed through another worker first.
                if txn is not None and (earlier := await self._earlier_txn(txn)) is not None:
                    return earlier
                raise
        return await self._append_once(sender, room_id, event_type, content, state_key, txn, redacts, also)

    async def _append_once(
        self, sender: str, room_id: str, event_type: str, content: dict[str, Any],
        state_key: str | None, txn: Txn | None, redacts: str | None, also: Sequence[AuditAppend],
    ) -> str:
        async with self._locks[room_id]:
            if room_id not in self._rooms:
                # Read the room again only once this worker's queued events of it have committed
                # or failed: a snapshot read before them would build on an event already passed.
                await asyncio.gather(*self._in_flight.get(room_id, ()), return_exceptions=True)
            if txn is not None:
                pending = self._pending_txns.get(txn)
                earlier = pending[0] if pending else await self._earlier_txn(txn)
                if earlier is not None:
                    if pending:
                        await asyncio.shield(pending[1])
                    return earlier
            room = await self.require_room(room_id)
            await check_invitation(self.store.userdata, sender, event_type, content, state_key,
                                   self.invite_blocking_exempt)
            await self.policy.check_event(sender, room.state, event_type, content, state_key)
            new_event = await self._with_push_rows(room, await self._build(
                room, sender, event_type, content, state_key, txn, redacts))
            writes = await self.policy.event_writes(room.state, new_event.event_id, new_event.pdu)
            if writes:
                new_event = dataclasses.replace(new_event, also=tuple(writes))
            # Queued, not yet durable: the room's next event may already build on this one,
            # because the writer commits in queue order. The lock is not held across the fsync,
            # so a busy room gets many events per commit instead of one.
            committed = self.store.events.enqueue_events(
                [new_event], self.clock.now_ms(), self._push_committed([new_event]), also=also)
            audience = self._advance(room, new_event)
            if txn is not None:
                self._pending_txns[txn] = (new_event.event_id, committed)
            in_flight = self._in_flight.setdefault(room_id, set())
            in_flight.add(committed)
            committed.add_done_callback(lambda done: self._landed(room_id, done))
        try:
            await asyncio.shield(committed)
        except Exception as e:
            # What memory holds is ahead of the disk: read the room back from what was committed.
            self._rooms.pop(room_id, None)
            if event_type == "m.room.member" or not isinstance(e, RoomMoved):
                self._user_rooms = None
            raise
        finally:
            if txn is not None:
                self._pending_txns.pop(txn, None)
        self.notifier.notify(audience)
        await self.policy.after_event(sender, room_id, event_type, state_key)
        return new_event.event_id

    async def create_with_events(
        self, creator: str, room_id: str, room_version: str, alias: str | None,
        events: list[tuple[str, str | None, dict[str, Any]]],
    ) -> None:
        """A new room and its first events, each authorised in order, stored in one transaction: all or nothing."""
        async with self._locks[room_id]:
            scratch = RoomSnapshot(room_id)
            built = []
            audience: set[str] = set()
            for event_type, state_key, content in events:
                check_event_fields(event_type, content, state_key)
                await check_invitation(self.store.userdata, creator, event_type, content, state_key,
                                       self.invite_blocking_exempt)
                await self.policy.check_event(creator, scratch.state, event_type, content, state_key)
                new_event = await self._with_push_rows(scratch, await self._build(
                    scratch, creator, event_type, content, state_key, None, None))
                audience |= self._advance(scratch, new_event, index=False)
                built.append(new_event)
            new_room = NewRoom(room_id, room_version, creator, alias)
            if not await self.store.events.persist_events(built, self.clock.now_ms(), new_room=new_room,
                                                          after_commit=self._push_committed(built)):
                raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")
            self._rooms[room_id] = scratch
            for event in built:
                if event.pdu["type"] == "m.room.member":
                    self._membership_changed(scratch, event.pdu["state_key"])
        self.notifier.notify(audience)
        for event in built:
            await self.policy.after_event(creator, room_id, event.pdu["type"], event.pdu.get("state_key"))

    async def _with_push_rows(self, room: RoomSnapshot, event: NewEvent) -> NewEvent:
        """The event with whom its push rules notify, judged on the room just before it."""
        if self.push is None:
            return event
        rows = await self.push.push_rows(room.state, room.members("join"), event.pdu)
        return dataclasses.replace(event, push_rows=rows) if rows else event

    def _push_committed(self, events: list[NewEvent]) -> Callable[[], None] | None:
        push = self.push
        if push is None or not any(e.push_rows for e in events):
            return None
        return lambda: push.committed(row for e in events for row in e.push_rows)

    async def _check_thread(self, room_id: str, content: dict[str, Any]) -> None:
        """A thread may not hang off an event that itself relates to another (spec: 400 M_UNKNOWN)."""
        relation = relation_of(content)
        if relation is None or relation.rel_type != THREAD:
            return
        root = await self.store.events.get_event(relation.event_id)
        if root is not None and root.pdu["room_id"] == room_id and (problem := thread_start_problem(root.pdu, room_id)):
            raise MatrixError(400, "M_UNKNOWN", problem)

    async def _earlier_txn(self, txn: Txn) -> str | None:
        found = await self.store.events.transaction_response(txn.user_id, txn.device_id, txn.scope, txn.txn_id)
        return str(found["event_id"]) if found else None

    async def _build(
        self, room: RoomSnapshot, sender: str, event_type: str, content: dict[str, Any],
        state_key: str | None, txn: Txn | None, redacts: str | None,
    ) -> NewEvent:
        """The signed PDU of the next event in `room`, authorised against its current state."""
        partial: dict[str, Any] = {
            "type": event_type,
            "room_id": room.room_id,
            "sender": sender,
            "content": content,
            "origin_server_ts": self.clock.now_ms(),
            "depth": room.depth + 1,
            "prev_events": [room.latest_event_id] if room.latest_event_id else [],
        }
        if state_key is not None:
            partial["state_key"] = state_key
        auth_keys = [k for k in auth_types_for_event(partial) if k in room.state]
        partial["auth_events"] = [room.state_ids[k] for k in auth_keys]
        check_event_auth(partial, {k: room.state[k] for k in auth_keys})
        redacted_pdu_json = None
        if event_type == "m.room.redaction" and redacts is not None:
            redacted_pdu_json = await self._check_redaction(room, sender, redacts)
        event_id, pdu = finalise_pdu(partial, self.settings.server_name, self.signing_key)
        pdu_json = jsonutil.dumps(pdu)
        if len(pdu_json) > MAX_EVENT_BYTES:
            raise too_large(f"Event is larger than {MAX_EVENT_BYTES} bytes")
        unsigned: dict[str, Any] | None = None
        if state_key is not None and (event_type, state_key) in room.state:
            replaced = room.state[(event_type, state_key)]
            unsigned = {
                "replaces_state": room.state_ids[(event_type, state_key)],
                "prev_content": replaced["content"],
                "prev_sender": replaced["sender"],
            }
        return NewEvent(
            event_id=event_id, pdu=pdu, pdu_json=pdu_json, unsigned=unsigned,
            txn_user_id=txn.user_id if txn else None, txn_device_id=txn.device_id if txn else None,
            txn_scope=txn.scope if txn else None, txn_id=txn.txn_id if txn else None,
            redacts=redacts, redacted_pdu_json=redacted_pdu_json, relation=relation_of(content),
        )

    def _advance(self, room: RoomSnapshot, event: NewEvent, index: bool = True) -> set[str]:
        """Move the in-memory room past a committed event; returns whom to wake."""
        pdu = event.pdu
        audience = room.members("join", "invite")
        room.latest_event_id = event.event_id
        room.depth = pdu["depth"]
        state_key = pdu.get("state_key")
        if state_key is not None:
            room.set_state((pdu["type"], state_key), pdu, event.event_id)
            if pdu["type"] == "m.room.member":
                if index:
                    self._membership_changed(room, state_key)
                audience |= room.members("join") | {state_key}
        return audience


    async def _check_redaction(self, room: RoomSnapshot, sender: str, redacts: str) -> bytes | None:
        target = await self.store.events.get_event(redacts)
        if target is None or target.pdu["room_id"] != room.room_id:
            raise not_found("Unknown event")
        # On one server every sender shares our domain, so the spec's "same server" escape
        # would let anyone redact anyone: only your own events, or with the redact level.
        if target.pdu["sender"] != sender:
            levels = PowerLevels(room.state, room.state.get(("m.room.create", ""), {}))
            if levels.user_level(sender) < levels.level("redact"):
                raise forbidden("You may only redact your own events")
        return jsonutil.dumps(redact(target.pdu))

    async def send_state(
        self, sender: str, room_id: str, event_type: str, state_key: str, content: dict[str, Any],
        txn: Txn | None = None,
    ) -> str:
        """PUT a state event; an identical repeat of the current state returns its event ID."""
        # Validate first: Python's == calls -0.0, 1.0 and True equal to 0, 1 and 1.
        check_event_fields(event_type, content, state_key)
        room = await self.require_room(room_id)
        current = room.state.get((event_type, state_key))
        if current is not None and current["content"] == content and current["sender"] == sender:
            return room.state_ids[(event_type, state_key)]
        return await self.append(sender, room_id, event_type, content, state_key=state_key, txn=txn)

    async def update_profile_in_rooms(self, user_id: str) -> None:
        """After a profile change, a new member event in every joined room carries the new name and avatar."""
        user = await self.store.accounts.get_user(user_id)
        if user is None:
            return
        for room_id in sorted(await self.rooms_of(user_id)):
            room = await self.snapshot(room_id)
            if room is None or room.membership(user_id) != "join":
                continue
            content = dict(room.state[("m.room.member", user_id)]["content"])
            for key, value in (("displayname", user.displayname), ("avatar_url", user.avatar_url)):
                if value is None:
                    content.pop(key, None)
                else:
                    content[key] = value
            await self.send_state(user_id, room_id, "m.room.member", user_id, content)
