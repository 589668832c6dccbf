"""Sending queued notifications to push gateways; runs in the push process, beside the server.

Each pusher with something queued has one task that sends its notifications in order, one
at a time. A gateway that is down, slow or answering 5xx/429 is retried with exponential
backoff (capped by `push_retry_max_ms`); the queue is in the database, so a restart resumes
where it stopped. A pushkey the gateway lists in `rejected` loses its pusher. Nothing is sent
to a URL outside the operator's allowlist, checked again before every send; redirects are never
followed. This process only reads the database: what the gateways took, and pushers to remove,
are reported to the server (`Report`), whose writer deletes them and acknowledges.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qasid.config import Settings
from qasid.core import jsonutil, push_eval
from qasid.core.push_badge import Badges
from qasid.core.pushers import gateway_allowed
from qasid.store.sqlite.push import PusherRow, QueuedPush
from qasid.store.sqlite.push_reads import PushReads

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("qasid.push")

BATCH = 50
# What the gateways took is reported for deletion once per this many ms, for every pusher at once.
DEQUEUE_EVERY_MS = 50
FIRST_RETRY_MS = 1_000
MAX_RESPONSE_BYTES = 65_536

# One message to the server: {"taken": [[pusher, upto], ...]}, {"rejected": pusher} or {"gone": pusher}.
Report = Callable[[dict[str, Any]], None]


class Outcome(enum.Enum):
    SENT = "sent"  # the gateway took it
    RETRY = "retry"  # the gateway is unreachable or failing: try again later
    DROP = "drop"  # the gateway refused this one for good, or may no longer be contacted
    REJECTED = "rejected"  # the gateway says the pushkey is dead: the pusher goes


def notification_payload(
    pusher: PusherRow, item: QueuedPush, badge: int, event: dict[str, Any] | None,
) -> dict[str, Any]:
    """The Push Gateway API's /notify body; with `event` None, the `event_id_only` form.

    `event_id_only` carries no content, sender or tweaks (a highlight says who was mentioned).
    """
    tweaks = push_eval.tweaks(item.actions)
    # Without the event the phone must wake to fetch it; an encrypted one it must decrypt to judge.
    high = event is None or bool(tweaks.get("highlight") or tweaks.get("sound")) or event["type"] == "m.room.encrypted"
    device: dict[str, Any] = {
        "app_id": pusher.app_id, "pushkey": pusher.pushkey, "pushkey_ts": pusher.pushkey_ts // 1000,
        "data": {k: v for k, v in pusher.data.items() if k != "url"},
    }
    notification: dict[str, Any] = {
        "event_id": item.event_id, "room_id": item.room_id, "counts": {"unread": badge},
        "prio": "high" if high else "low", "devices": [device],
    }
    if event is not None:
        device["tweaks"] = tweaks
        notification.update(event)
    return {"notification": notification}


def classify(status: int, body: bytes, pushkey: str) -> Outcome:
    """What a gateway's answer means for the notification sent."""
    if status == 200:
        try:
            answer = jsonutil.loads_stored(body) if body else {}
        except ValueError:
            answer = {}
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        if isinstance(rejected, list) and pushkey in rejected:
            return Outcome.REJECTED
        return Outcome.SENT
    if status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.DROP


class PushSender:
    """One sending task per pusher with queued notifications."""

    def __init__(self, settings: Settings, reads: PushReads, report: Report) -> None:
        self.settings = settings
        self.reads = reads
        self.report = report
        self.badges = Badges(reads)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        self._client: aiohttp.ClientSession | None = None
        # Pusher -> the newest notification its gateway took, not yet reported for deletion.
        self._taken: dict[int, int] = {}
        # Pusher -> the newest notification its gateway took, until the server says its delete
        # has committed: a read of the queue meanwhile still finds those rows, and must not send them twice.
        self._sent: dict[int, int] = {}
        # Pushers reported for removal and not yet removed: nothing more is sent for them.
        self._removing: set[int] = set()
        self._reporter: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Resume delivery of whatever was queued before the last stop (or crash)."""
        self.wake(self.reads.pushers_with_queue())

    def wake(self, pusher_ids: Any) -> None:
        """New notifications are queued for these pushers (told after their commit)."""
        for pusher_id in pusher_ids:
            if pusher_id in self._removing:
                continue
            self._dirty.add(pusher_id)
            if pusher_id not in self._tasks:
                self._tasks[pusher_id] = asyncio.get_running_loop().create_task(self._drain(pusher_id))

    def dequeued(self, taken: Mapping[int, int]) -> None:
        """The server deleted these from the queue: a read no longer finds them."""
        for pusher_id, upto in taken.items():
            if self._sent.get(pusher_id) == upto:  # nothing sent since
                del self._sent[pusher_id]

    def removed(self, pusher_ids: Any) -> None:
        """The server removed these pushers (and their queue)."""
        for pusher_id in pusher_ids:
            self._removing.discard(pusher_id)
            self._sent.pop(pusher_id, None)

    async def stop(self) -> None:
        """Stop sending; what is still queued stays queued for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
        self._report_taken()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _drain(self, pusher_id: int) -> None:
        try:
            while True:
                self._dirty.discard(pusher_id)
                queued = self.reads.queued(pusher_id, BATCH, self._sent.get(pusher_id, 0))
                if not queued:
                    if pusher_id in self._dirty:
                        continue
                    return
                if not await self._deliver_all(pusher_id, queued):
                    return
                if len(queued) < BATCH and pusher_id not in self._dirty:
                    # The read saw everything committed before it, and anything committed since
                    # has marked the pusher dirty (the wake follows the commit): nothing is left.
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("push delivery for pusher %s stopped; it resumes on the next notification", pusher_id)
        finally:
            self._tasks.pop(pusher_id, None)

    async def _deliver_all(self, pusher_id: int, queued: list[QueuedPush]) -> bool:
        """Send each in order, retrying until taken; False once the pusher is gone.

        The pusher, its device and the badge are read once per batch; what the gateway took
        is reported for deletion with the next report, for every pusher at once (and before each
        wait for a retry): a crash in between sends those again, never loses them.
        """
        pusher = self._live_pusher(pusher_id)
        if pusher is None:
            return False
        badge = self.badges.count(pusher.user_id)
        delay_ms = 0
        for item in queued:
            while (outcome := await self._send(pusher, item, badge)) is Outcome.RETRY:
                self._report_taken()
                delay_ms = min(max(delay_ms * 2, FIRST_RETRY_MS), self.settings.push_retry_max_ms)
                await asyncio.sleep(delay_ms / 1000)
                pusher = self._live_pusher(pusher_id)
                if pusher is None:
                    return False
                badge = self.badges.count(pusher.user_id, fresh=True)  # counted when sent, not when queued
            delay_ms = 0
            if outcome is Outcome.REJECTED:
                log.info("push gateway rejected a pushkey of %s; its pusher is removed", pusher.app_id)
                self._remove(pusher_id, {"rejected": pusher_id})
                return False
            self._taken[pusher_id] = self._sent[pusher_id] = item.stream_ordering
            if self._reporter is None:
                self._reporter = asyncio.get_running_loop().create_task(self._report_soon())
        return True

    async def _report_soon(self) -> None:
        try:
            await asyncio.sleep(DEQUEUE_EVERY_MS / 1000)
        finally:
            self._reporter = None
        self._report_taken()

    def _report_taken(self) -> None:
        """Tell the server what the gateways took, so that it leaves the queue in one write."""
        if self._taken:
            taken, self._taken = self._taken, {}
            self.report({"taken": list(taken.items())})

    def _remove(self, pusher_id: int, message: dict[str, Any]) -> None:
        self._removing.add(pusher_id)
        self._taken.pop(pusher_id, None)
        self.report(message)

    def _live_pusher(self, pusher_id: int) -> PusherRow | None:
        """The pusher, unless it was removed or its device signed out (then it goes too)."""
        if pusher_id in self._removing:
            return None
        found = self.reads.pusher(pusher_id)
        if found is None:
            return None
        pusher, device_exists = found
        if not device_exists:
            self._remove(pusher_id, {"gone": pusher_id})
            return None
        return pusher

    async def _send(self, pusher: PusherRow, item: QueuedPush, badge: int) -> Outcome:
        url = pusher.data.get("url")
        if not isinstance(url, str) or not gateway_allowed(url, self.settings.push_gateway_allowlist):
            log.warning("pusher %s names a gateway the operator no longer allows: not sent", pusher.pusher_id)
            return Outcome.DROP
        payload = notification_payload(pusher, item, badge, self._event_fields(pusher, item))
        try:  # the client's own timeout bounds the whole exchange
            status, body = await self._post(url, jsonutil.dumps(payload), self.settings.push_gateway_timeout_ms / 1000)
        except Exception as e:  # noqa: BLE001 - any failure to talk to the gateway means: later
            log.info("push gateway unreachable for pusher %s (%s); will retry", pusher.pusher_id, type(e).__name__)
            return Outcome.RETRY
        outcome = classify(status, body, pusher.pushkey)
        if outcome is Outcome.DROP:
            log.warning("push gateway answered %s for pusher %s: notification dropped", status, pusher.pusher_id)
        return outcome

    async def _post(self, url: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        if self._client is None:
            import aiohttp  # only a server with pushers pays for the HTTP client

            # No proxy from the environment, no cookies kept: only the allowlisted gateway is reached.
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout_s), trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        async with self._client.post(url, data=body, headers={"content-type": "application/json"},
                                     allow_redirects=False) as response:
            return response.status, await response.content.read(MAX_RESPONSE_BYTES)

    def _event_fields(self, pusher: PusherRow, item: QueuedPush) -> dict[str, Any] | None:
        """What the operator lets leave the server besides IDs: None means `event_id_only`."""
        if not self.settings.push_include_content or pusher.data.get("format") == "event_id_only":
            return None
        pdu = self.reads.event_pdu(item.event_id)
        if pdu is None:
            return None
        fields: dict[str, Any] = {"type": pdu["type"], "sender": pdu["sender"], "content": pdu.get("content", {})}
        if pdu["type"] == "m.room.member":
            fields["user_is_target"] = pdu.get("state_key") == pusher.user_id
            fields["membership"] = pdu.get("content", {}).get("membership")
        return fields
