"""What one worker tells the others, so that any worker can answer any request.

Workers share the database; what each holds in memory of it goes stale when another commits:
the event stream's end, each room's newest event and bump stamp, membership caches and room
snapshots, who is typing (memory only), the delayed-event timer and the push queue's senders.
After its commits a worker publishes one small message per event-loop turn: whom to wake, who
started or stopped typing, that the push queue or the delayed-event schedule changed, whose
cached ignore list, push rules, receipts, memberships or pushers changed, and the UIA sessions
begun, moved on or finished (held in memory, copied to every worker). Every other
worker first applies the events committed since its own end of the stream (EventStore.catch_up,
which also refreshes the room service), then acts on the message. Access tokens are read from
the database on every request, so a revocation bites everywhere with no message at all.

One worker at a time (the leader, holding a database lock while its session lives) runs the
background jobs: push delivery, delayed events, the government's maintenance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from qasid.core.services import Services

log = logging.getLogger(__name__)

# How often a worker looks for commits it was not told of (a worker killed between its commit
# and its message), and whether the leader's lock is free.
SWEEP_SECONDS = 2.0


class Channel(Protocol):
    """A broadcast channel every worker of one database listens on."""

    async def start(self, deliver: Callable[[str | None], None]) -> None: ...

    async def publish(self, payload: str) -> None: ...

    async def try_lead(self) -> bool: ...

    async def stop(self) -> None: ...


class WorkerBus:
    """Relays this worker's wake-ups to the others and applies theirs here."""

    def __init__(self, channel: Channel, services: Services, max_payload: int,
                 lead: Callable[[], Awaitable[None]], unlead: Callable[[], Awaitable[None]]) -> None:
        self.channel = channel
        self.services = services
        self.worker_id = secrets.token_hex(6)
        self.max_payload = max_payload
        self.is_leader = False
        self._lead = lead
        self._unlead = unlead
        self._wake: set[str] = set()
        self._typing: list[tuple[str, str, bool, int | None]] = []
        self._pushers: dict[int, str] = {}  # pusher: its user
        self._timers = False
        self._forget: dict[str, set[str]] = {}
        self._uia: dict[str, dict[str, Any] | None] = {}
        self._flush_queued = False
        # Set while applying another worker's message: what it causes here is not relayed back.
        self._applying = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, then hook every relay: nothing committed after this returns goes unannounced."""
        await self.channel.start(self._received)
        s = self.services
        s.store.events.on_committed_elsewhere = s.rooms.committed_elsewhere
        s.notifier.relay = self._relay_wake
        s.userdata.typing_relay = self._relay_typing
        s.calls.relay = self._relay_timers
        s.push.on_queued = self._relay_pushers
        s.userdata.forget_relay = self._relay_forget
        s.pushers.relay = lambda: self._relay_forget("pushers", "")
        s.accounts.uia.relay = self._relay_uia
        s.store.events.relay_forgotten = lambda user_id: self._relay_forget("memberships", user_id)
        s.store.events.catch_up()
        await self._try_lead()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _try_lead(self) -> None:
        held = await self.channel.try_lead()
        if held and not self.is_leader:
            self.is_leader = True
            log.info("this worker runs the background jobs")
            await self._lead()
        elif self.is_leader and not held:
            # The lock's session was lost: another worker may hold it now, so these jobs stop here.
            self.is_leader = False
            log.warning("this worker lost the leader's lock; its background jobs stop")
            await self._unlead()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        self._flush()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channel.stop()

    # --- sending ---------------------------------------------------------------------------

    def _relay_wake(self, user_ids: Iterable[str]) -> None:
        if not self._applying:
            self._wake.update(user_ids)
            self._queue_flush()

    def _relay_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int | None) -> None:
        self._typing.append((room_id, user_id, typing, timeout_ms))
        self._queue_flush()

    def _relay_timers(self) -> None:
        self._timers = True
        self._queue_flush()

    def _relay_forget(self, kind: str, key: str) -> None:
        self._forget.setdefault(kind, set()).add(key)
        self._queue_flush()

    def _relay_uia(self, session_id: str, copy: dict[str, Any] | None) -> None:
        self._uia[session_id] = copy
        self._queue_flush()

    def _relay_pushers(self, pushers: dict[int, str]) -> None:
        if self.is_leader:
            self.services.push_delivery.wake(pushers)
            return
        self._pushers.update(pushers)
        self._queue_flush()

    def _queue_flush(self) -> None:
        # Everything relayed in one turn of the event loop (a commit's wake-ups) goes in one message.
        if not self._flush_queued:
            self._flush_queued = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_queued = False
        for payload in self._payloads():
            task = asyncio.get_running_loop().create_task(self._publish(payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, payload: str) -> None:
        try:
            await self.channel.publish(payload)
        except Exception:
            # The others find the commit on their next sweep; their long-polls wake then.
            log.warning("could not tell the other workers of a commit", exc_info=True)

    def _payloads(self) -> list[str]:
        """What was relayed this turn, as messages each under the channel's size limit."""
        items: list[tuple[str, Any, Any]] = [("typing", t, None) for t in self._typing]
        items += [("push", [pusher_id, user_id], None) for pusher_id, user_id in sorted(self._pushers.items())]
        items += [("timers", True, None)] if self._timers else []
        items += [("forget", kind, key) for kind, keys in self._forget.items() for key in sorted(keys)]
        items += [("uia", session_id, copy) for session_id, copy in self._uia.items()]
        items += [("wake", user_id, None) for user_id in sorted(self._wake)]
        self._wake, self._typing, self._pushers, self._timers = set(), [], {}, False
        self._forget, self._uia = {}, {}
        payloads: list[str] = []
        message: dict[str, Any] = {"from": self.worker_id}
        size = len(json.dumps(message))
        for field, key, value in items:
            cost = len(json.dumps([key, value])) + len(field) + 8
            if len(message) > 1 and size + cost > self.max_payload:
                payloads.append(json.dumps(message))
                message = {"from": self.worker_id}
                size = len(json.dumps(message))
            _add(message, field, key, value)
            size += cost
        if len(message) > 1:
            payloads.append(json.dumps(message))
        return payloads

    # --- receiving -------------------------------------------------------------------------

    def _received(self, payload: str | None) -> None:
        s = self.services
        if payload is None:  # the channel was lost for a while: anything may have been missed
            s.store.events.catch_up()
            s.notifier.wake_everyone()
            return
        message = json.loads(payload)
        if message.get("from") == self.worker_id:
            return
        self._applying = True
        try:
            s.store.events.catch_up()
            self._forget_here(message.get("forget", {}))
            for session_id, copy in message.get("uia", {}).items():
                s.accounts.uia.arrived(session_id, copy)
            for room_id, user_id, typing, timeout_ms in message.get("typing", ()):
                s.userdata.typing.set_typing(room_id, user_id, typing, timeout_ms)
            if self.is_leader and message.get("push"):
                s.push_delivery.wake({int(pusher_id): user_id for pusher_id, user_id in message["push"]})
            if self.is_leader and message.get("timers"):
                s.calls.wake()
            s.notifier.wake(message.get("wake", ()))
        except Exception:
            log.exception("could not apply another worker's message")
        finally:
            self._applying = False

    def _forget_here(self, forget: dict[str, list[str]]) -> None:
        """Drop what this worker cached of data another worker changed."""
        s = self.services
        for user_id in forget.get("ignored", ()):
            s.userdata.ignored.forget(user_id)
        for user_id in forget.get("rules", ()):
            s.push.rules_changed(user_id)
        for user_id in forget.get("receipts", ()):
            s.store.userdata.receipt_stored_elsewhere(user_id)
        for user_id in forget.get("memberships", ()):
            s.store.events.forgotten_elsewhere(user_id)
        if "pushers" in forget:
            s.pushers.changed_elsewhere()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                if self.services.store.events.catch_up():
                    # Commits nobody announced (their worker died first): wake every long-poll.
                    self.services.notifier.wake_everyone()
                await self._try_lead()
            except Exception:
                log.exception("worker sweep failed; trying again")


def _add(message: dict[str, Any], field: str, key: Any, value: Any) -> None:
    """One relayed item into a message, in the shape the receiver reads."""
    if field == "timers":
        message["timers"] = True
    elif field == "forget":
        message.setdefault("forget", {}).setdefault(key, []).append(value)
    elif field == "uia":
        message.setdefault("uia", {})[key] = value
    else:
        message.setdefault(field, []).append(key)
