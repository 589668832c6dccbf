"""Delivery of queued notifications, from the server's side: it runs the push process and serves it.

The gateways' HTTP is done by a child process (`qasid.core.push_process`) on another core, so
that pushes cost the event loop almost nothing: after a commit that queued notifications the
server writes one line naming the pushers; the child reads the queue, sends, and reports what
the gateways took, which this side deletes in one write and acknowledges. The child is started
with the server (or with the first notification queued, on a server without pushers), stopped
with it, and started again if it dies; the queue is in the database, so nothing is lost
meanwhile (what was sent but not yet deleted is sent again).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from qasid.config import Settings
from qasid.core import jsonutil
from qasid.core.push_process import MAX_LINE_BYTES, settings_message
from qasid.core.pushers import PusherService
from qasid.store.sqlite import Store

log = logging.getLogger("qasid.push")

FIRST_RESTART_MS = 500
MAX_RESTART_MS = 30_000
# A child that lived this long died of something new: its next restart is quick again.
HEALTHY_AFTER_S = 60
STOP_TIMEOUT_S = 10


class PushDelivery:
    """Runs the push process, wakes it after commits, and carries out what it reports."""

    def __init__(self, settings: Settings, store: Store, pushers: PusherService) -> None:
        self.settings = settings
        self.store = store
        self.pushers = pushers
        self._child: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._woken: dict[int, str] = {}
        self._wake_scheduled = False

    async def start(self) -> None:
        """Start the push process if there is any pusher (it resumes what was queued before the last
        stop or crash); otherwise it starts with the first notification queued."""
        self._stopping = False
        await self.pushers.ensure_loaded()
        if self.pushers.any_pusher():
            self._run()

    def _run(self) -> None:
        if self._supervisor is None and not self._stopping:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def wake(self, pushers: dict[int, str]) -> None:
        """New notifications are queued for these pushers ({pusher: its user}), after their commit.

        The wakes of one turn of the event loop go to the child in one line. Without a child
        (it is being restarted) nothing is lost: a new child reads the whole queue first.
        """
        self._run()
        self._woken.update(pushers)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_wakes)

    def _send_wakes(self) -> None:
        self._wake_scheduled = False
        woken, self._woken = self._woken, {}
        versions = {user_id: (self.store.userdata.receipt_version(user_id),
                              self.store.events.membership_version(user_id)) for user_id in set(woken.values())}
        self._tell({"wake": [[pusher_id, user_id, *versions[user_id]] for pusher_id, user_id in woken.items()]})

    def _tell(self, message: dict[str, Any]) -> None:
        child = self._child
        if child is not None and child.stdin is not None and not child.stdin.is_closing():
            child.stdin.write(jsonutil.dumps(message) + b"\n")

    async def stop(self) -> None:
        """Stop the push process; what it reported before exiting is deleted from the queue first."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        child = self._child
        if supervisor is None:
            return
        if child is None or child.returncode is not None:
            supervisor.cancel()  # waiting to start a child again: nothing to wait for
        elif child.stdin is not None:
            child.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(supervisor), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the push process did not stop within %s s; killed", STOP_TIMEOUT_S)
            if child is not None and child.returncode is None:
                child.kill()
            await asyncio.gather(supervisor, return_exceptions=True)
        except asyncio.CancelledError:
            if not supervisor.cancelled():
                raise

    async def _supervise(self) -> None:
        """Run the child until the server stops, starting it again (with backoff) when it dies."""
        delay_ms = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_child()
            except Exception:
                log.exception("the push process could not be run")
            if self._stopping:
                return
            delay_ms = FIRST_RESTART_MS if time.monotonic() - started > HEALTHY_AFTER_S \
                else min(max(delay_ms * 2, FIRST_RESTART_MS), MAX_RESTART_MS)
            log.error("the push process exited (code %s); starting it again in %s ms",
                      self._child.returncode if self._child else None, delay_ms)
            await asyncio.sleep(delay_ms / 1000)

    async def _run_child(self) -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "qasid.core.push_process", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=MAX_LINE_BYTES)
        self._child = child
        self._tell(settings_message(self.settings))
        assert child.stdout is not None
        try:
            while line := await child.stdout.readline():
                await self._handle(jsonutil.loads_stored(line))
        finally:
            if child.stdin is not None:
                child.stdin.close()
            await child.wait()

    async def _handle(self, message: dict[str, Any]) -> None:
        """Carry out one report of the child, and acknowledge it."""
        if "taken" in message:
            taken = {int(pusher_id): int(upto) for pusher_id, upto in message["taken"]}
            try:
                await self.store.push.dequeue_upto(taken)
            except Exception:
                # Still queued: the child's next report for these pushers covers them.
                log.exception("sent notifications could not leave the push queue")
                return
            self._tell({"dequeued": list(taken.items())})
        elif "rejected" in message:
            pusher = await self.pushers.get(int(message["rejected"]))
            removed = await self.pushers.remove_rejected(pusher, [pusher.pushkey]) if pusher else []
            self._tell({"removed": [int(message["rejected"]), *removed]})
        elif "gone" in message:
            pusher = await self.pushers.get(int(message["gone"]))
            if pusher is not None and await self.pushers.device_gone(pusher):
                await self.pushers.remove([pusher.pusher_id])
            self._tell({"removed": [int(message["gone"])]})
