"""What MatrixRTC group calls need from the homeserver: OpenID tokens for the call service, and
delayed events (MSC4140) that end a call membership when its device disappears.

A delayed event is stored when scheduled and sent by a timer of this service through the ordinary
append path, with a transaction ID of its own (`delayed/<delay_id>`): the event and that record
commit together, so after a crash between the append and the status update the retry finds the
earlier event instead of sending a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from qasid.config import Settings
from qasid.core.background import BackgroundLoop
from qasid.core.clock import Clock
from qasid.core.errors import MatrixError, limit_exceeded, not_found
from qasid.core.room_snapshot import check_event_fields
from qasid.core.rooms import RoomService, Txn
from qasid.core.suspension import delayed_allowed_while_suspended, suspended_error
from qasid.store.sqlite import Store
from qasid.store.sqlite.calls import DelayedEventRow

log = logging.getLogger("qasid.calls")

FINALISED_KEPT_MS = 86_400_000
ACTIONS = ("cancel", "restart", "send")


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def delayed_event_json(row: DelayedEventRow) -> dict[str, Any]:
    """A scheduled delayed event as GET /delayed_events lists it."""
    body: dict[str, Any] = {"delay_id": row.delay_id, "room_id": row.room_id, "type": row.event_type,
                            "delay": row.delay_ms, "running_since": row.running_since, "content": row.content}
    if row.state_key is not None:
        body["state_key"] = row.state_key
    return body


class CallService:
    """OpenID tokens and delayed events, with the timer that sends the delayed ones."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, rooms: RoomService) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rooms = rooms
        self._wake = asyncio.Event()
        # With several workers: tells the one that runs the timer that the schedule changed.
        self.relay: Callable[[], None] | None = None
        self._background = BackgroundLoop(self._loop)

    # --- OpenID -----------------------------------------------------------------------------

    async def request_openid_token(self, user_id: str) -> dict[str, Any]:
        """A new OpenID token that proves `user_id` to a third party (the call service) for a while."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        lifetime = self.settings.openid_token_lifetime_ms
        await self.store.calls.add_openid_token(_hash(token), user_id, now + lifetime, now)
        return {"access_token": token, "token_type": "Bearer", "matrix_server_name": self.settings.server_name,
                "expires_in": max(1, lifetime // 1000)}

    async def openid_userinfo(self, token: str) -> dict[str, str]:
        """{"sub": user_id} for a token that has not expired; 401 M_UNKNOWN_TOKEN otherwise."""
        user_id = await self.store.calls.openid_user(_hash(token), self.clock.now_ms()) if token else None
        if user_id is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown or expired OpenID token")
        return {"sub": user_id}

    # --- delayed events ---------------------------------------------------------------------

    async def schedule(
        self, user_id: str, device_id: str, room_id: str, event_type: str, state_key: str | None,
        content: dict[str, Any], delay_ms: int, txn_id: str | None = None,
    ) -> str:
        """Store an event to be sent after `delay_ms`; returns its delay_id (a secret: it controls the event).

        A send's `txn_id` makes it idempotent: a retry from the same device returns the first delay_id.
        """
        if delay_ms > self.settings.max_delay_ms:
            raise MatrixError(400, "M_MAX_DELAY_EXCEEDED", "The requested delay exceeds the allowed maximum",
                              max_delay=self.settings.max_delay_ms)
        check_event_fields(event_type, content, state_key)
        await self.rooms.require_joined(room_id, user_id)
        now = self.clock.now_ms()
        delay_id = "syd_" + secrets.token_urlsafe(24)
        row = DelayedEventRow(delay_id, user_id, device_id, room_id, event_type, state_key, content, delay_ms,
                              now, now + delay_ms, "scheduled", None, None)
        earlier, earliest = await self.store.calls.add_delayed_event(
            row, self.settings.max_delayed_events_per_user, txn_id)
        if earlier is not None:
            return earlier
        if earliest is not None:
            error = limit_exceeded(max(0, earliest - now))
            error.message = "The maximum number of delayed events has been reached"
            raise error
        self._timers_changed()
        return delay_id

    async def scheduled(self, user_id: str) -> list[dict[str, Any]]:
        """The user's scheduled delayed events."""
        return [delayed_event_json(row) for row in await self.store.calls.scheduled_for_user(user_id)]

    async def act(self, delay_id: str, action: str) -> None:
        """cancel, restart or send one delayed event; a retry of an action already done succeeds.

        404 M_NOT_FOUND for an unknown delay_id; 409 when the event was finalised the other way.
        """
        row = await self.store.calls.delayed_event(delay_id)
        if row is None:
            raise not_found("No delayed event with that delay_id")
        if row.status != "scheduled":
            if (action, row.status) in (("cancel", "cancelled"), ("send", "sent")):
                return
            raise MatrixError(409, "M_UNKNOWN", f"The delayed event was already {row.status}")
        now = self.clock.now_ms()
        if action == "cancel":
            await self.store.calls.finalise(delay_id, "cancelled", now)
        elif action == "restart":
            await self.store.calls.restart(delay_id, now)
        else:
            # A refused send leaves the event scheduled: the cause may pass before its time comes.
            await self._send(row, keep_on_error=True)
        self._timers_changed()

    async def _send(self, row: DelayedEventRow, keep_on_error: bool) -> None:
        txn = Txn(row.user_id, row.device_id, f"delayed/{row.delay_id}", row.delay_id)
        try:
            # Suspended (read-only) since it was scheduled: refused as the same request now would be.
            if self.store.gov.is_read_only(row.user_id) and not delayed_allowed_while_suspended(
                    row.event_type, row.state_key, row.content):
                raise suspended_error("send this event")
            if row.state_key is not None:
                event_id = await self.rooms.send_state(
                    row.user_id, row.room_id, row.event_type, row.state_key, row.content, txn=txn)
            else:
                event_id = await self.rooms.append(row.user_id, row.room_id, row.event_type, row.content, txn=txn)
        except MatrixError as error:
            if keep_on_error:
                raise
            log.info("delayed event of %s in %s refused: %s", row.user_id, row.room_id, error.errcode)
            await self.store.calls.finalise(row.delay_id, "cancelled", self.clock.now_ms(),
                                            error=f"{error.errcode}: {error.message}")
            return
        await self.store.calls.finalise(row.delay_id, "sent", self.clock.now_ms(), event_id=event_id)

    async def send_due(self) -> int:
        """Send every delayed event whose time has come; how many were handled."""
        due = await self.store.calls.due(self.clock.now_ms())
        for row in due:
            await self._send(row, keep_on_error=False)
        return len(due)

    # --- the timer --------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the schedule again now: it changed (here, or through another worker)."""
        self._wake.set()

    def _timers_changed(self) -> None:
        self._wake.set()
        if self.relay is not None:
            self.relay()

    def start(self) -> None:
        """Begin sending delayed events in the running loop (pending ones from before a restart too)."""
        self._background.start()

    async def stop(self) -> None:
        """Stop the timer; scheduled events stay stored for the next start."""
        await self._background.stop()

    async def _loop(self) -> None:
        last_cleanup = 0
        while True:
            self._wake.clear()
            try:
                await self.send_due()
                now = self.clock.now_ms()
                if now - last_cleanup > 60_000:
                    await self.store.calls.forget_finalised(now - FINALISED_KEPT_MS)
                    last_cleanup = now
            except Exception:
                log.exception("sending delayed events failed; trying again shortly")
                await asyncio.sleep(1)
                continue
            next_ts = self.store.calls.next_send_ts()
            wait_s = 60.0 if next_ts is None else max(0.0, min(60.0, (next_ts - self.clock.now_ms()) / 1000))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait_s)
            except TimeoutError:
                pass
