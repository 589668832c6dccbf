"""Wakes waiting /sync requests when something they care about is committed."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

# A waiting request's ASGI `receive`: it answers `http.disconnect` once the client has gone.
Receive = Callable[[], Awaitable[dict[str, Any]]]
# Waits time out on this grid (never early, at most this late): one timer per slot, not per wait.
TIMEOUT_SLOT_S = 0.05


class Notifier:
    """Per-user wake-ups with a per-user change counter.

    A sync reads `version(user)` before it reads the streams, and waits only if the counter
    has not moved since: a change committed between the read and the wait is never missed.
    """

    def __init__(self) -> None:
        # A list, not a set: a user has a device or two, and a parked long-poll's bytes count
        # when a process holds 100,000 of them (an empty set is 216 bytes, a list 56).
        self._waiters: dict[str, list[_Wake | Held]] = {}
        self._versions: dict[str, int] = defaultdict(int)
        # Wake-ups by the timeout slot they end in. One that a change woke stays, spent, until its
        # slot fires (~64 bytes): cheaper than a timer per wait, which a parked long-poll pays.
        self._slots: dict[int, list[_Wake | Held]] = {}
        # Set when the server begins to stop: long-polls answer with what they have, at once.
        self.closing = False
        # Long-polls waiting now, by kind ("sync", "sliding_sync"): a gauge for the metrics.
        self.parked: dict[str, int] = {"sync": 0, "sliding_sync": 0}
        # With several workers: tells the others whom to wake (their own long-polls of these users).
        self.relay: Callable[[Iterable[str]], None] | None = None

    def close(self) -> None:
        """End every wait now and every later one at once: the server is stopping."""
        self.closing = True
        for waiters in list(self._waiters.values()):
            for wake in waiters:
                wake(False)

    def version(self, user_id: str) -> int:
        """How many changes this user has been told of (in this process)."""
        return self._versions[user_id]

    def notify(self, user_ids: Iterable[str]) -> None:
        """Wake every sync waiting for any of these users, on every worker."""
        if self.relay is not None:
            user_ids = list(user_ids)
            self.relay(user_ids)
        self.wake(user_ids)

    def wake_everyone(self) -> None:
        """Wake every waiting sync: something changed that this process can't attribute."""
        self.wake(list(self._waiters))

    def wake(self, user_ids: Iterable[str]) -> None:
        """Wake this process's syncs waiting for any of these users."""
        for user_id in user_ids:
            self._versions[user_id] += 1
            waiters = self._waiters.pop(user_id, None)
            for wake in waiters or ():
                wake(True)

    async def wait(
        self, user_id: str, seen_version: int, timeout_s: float, receive: Receive | None = None,
        kind: str = "sync",
    ) -> bool:
        """Wait for a change after `seen_version`; False on timeout.

        `receive` is the request's ASGI receive: once it says the client has disconnected, the
        wait ends with ClientGone. The request's own task waits on it, and a change, the timeout
        or the server stopping wakes that task by cancelling it out of that one await: a parked
        long-poll costs one task and no future, where a watcher task beside it cost ~2 KiB more.
        """
        if self._versions[user_id] != seen_version:
            return True
        if timeout_s <= 0 or self.closing:
            return False
        if getattr(receive, "can_park", _cannot)():
            # qasid's own transport holds the request without its task and runs it again when woken.
            raise Park(user_id, seen_version, time.monotonic() + timeout_s, kind)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        wake = _Wake(task)
        self._waiters.setdefault(user_id, []).append(wake)
        self._time_out_at(loop, loop.time() + timeout_s, wake)
        self.parked[kind] += 1
        try:
            if receive is None:
                unset: asyncio.Future[bool] = loop.create_future()
                return await unset  # only a wake-up ends it
            while (await receive())["type"] != "http.disconnect":  # the body, if it was not read
                pass
            raise ClientGone()
        except asyncio.CancelledError:
            # Ours only if a wake-up set its reason, and nobody else cancelled the task too.
            if wake.news is None or task.uncancel() > 0:
                raise
            return wake.news
        finally:
            self.parked[kind] -= 1
            wake.task = None  # spent: its timeout slot may still call it
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                if wake in waiters:
                    waiters.remove(wake)
                if not waiters:
                    self._waiters.pop(user_id, None)

    def hold(self, park: Park, resume: Callable[[bool], None]) -> Held:
        """Call `resume(news)` once, on a change after `park.seen_version` (True), at the park's deadline
        or when the server stops (False): a parked request that holds no task meanwhile."""
        held = Held(self, park.kind, resume)
        self.parked[park.kind] += 1
        loop = asyncio.get_running_loop()
        news = self._versions[park.user_id] != park.seen_version
        if news or self.closing:
            loop.call_soon(held, news)
            return held
        self._waiters.setdefault(park.user_id, []).append(held)
        self._time_out_at(loop, loop.time() + park.deadline - time.monotonic(), held)
        return held

    def release(self, user_id: str, held: Held) -> None:
        """Forget a held request whose client has gone."""
        if held.resume is None:
            return
        held.resume = None
        self.parked[held.kind] -= 1
        waiters = self._waiters.get(user_id)
        if waiters is not None and held in waiters:
            waiters.remove(held)
            if not waiters:
                del self._waiters[user_id]

    def _time_out_at(self, loop: asyncio.AbstractEventLoop, when: float, wake: _Wake | Held) -> None:
        slot = math.ceil(when / TIMEOUT_SLOT_S)
        wakes = self._slots.get(slot)
        if wakes is None:
            wakes = self._slots[slot] = []
            loop.call_at(slot * TIMEOUT_SLOT_S, self._time_out, slot)
        wakes.append(wake)

    def _time_out(self, slot: int) -> None:
        for wake in self._slots.pop(slot, ()):
            wake(False)


class ClientGone(Exception):
    """The client of a waiting request disconnected."""


# The scope key under which a handler leaves what it parsed of a request (immutable, shared), so
# that a parked request running again reuses it instead of parsing, or reading, it again.
PARSED = "qasid.parsed"


class Park(BaseException):
    """Raised out of a request, in place of a wait, where the transport can hold the request itself.

    The transport registers it (`Notifier.hold`) and, once woken, runs the request again from the
    start with `resumed_deadline`: the long-poll then finds what is new, or answers empty once its
    deadline has passed. A BaseException, so no handler's `except Exception` takes it for an error.
    """

    def __init__(self, user_id: str, seen_version: int, deadline: float, kind: str) -> None:
        super().__init__()
        self.user_id = user_id
        self.seen_version = seen_version
        self.deadline = deadline  # time.monotonic()
        self.kind = kind
        self.keep: dict[str, Any] | None = None  # scope entries the app wants back when it runs again


def deadline_for(receive: Receive | None, timeout_s: float) -> float:
    """When a long-poll of `timeout_s` ends (time.monotonic()): a request run again after it was
    parked keeps the deadline of its first run."""
    deadline = time.monotonic() + timeout_s
    resumed: float | None = getattr(receive, "resumed_deadline", None)
    return deadline if resumed is None else min(deadline, resumed)


def _cannot() -> bool:
    return False


class Held:
    """A parked request's place in the notifier: calls its transport back once, saying why."""

    __slots__ = ("kind", "notifier", "resume")

    def __init__(self, notifier: Notifier, kind: str, resume: Callable[[bool], None]) -> None:
        self.notifier = notifier
        self.kind = kind
        self.resume: Callable[[bool], None] | None = resume  # None once called or released

    def __call__(self, news: bool) -> None:
        resume = self.resume
        if resume is not None:
            self.resume = None
            self.notifier.parked[self.kind] -= 1
            resume(news)


class _Wake:
    """A parked wait's wake-up: cancels the waiting task out of its await, once, saying why."""

    __slots__ = ("news", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task: asyncio.Task[Any] | None = task  # None once the wait is over
        self.news: bool | None = None  # True: a change; False: the timeout, or the server stopping

    def __call__(self, news: bool) -> None:
        if self.news is None and self.task is not None:
            self.news = news
            self.task.cancel()
