"""Wakes waiting /sync requests when something they care about is committed."""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any


class Notifier:
    """Per-user wake-ups with a per-user change counter.

    A sync reads `version(user)` before it reads the streams, and waits only if the counter
    has not moved since: a change committed between the read and the wait is never missed.
    """

    def __init__(self) -> None:
        # A list, not a set: a user has a device or two, and a parked long-poll's bytes count
        # when a process holds 100,000 of them (an empty set is 216 bytes, a list 56).
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._versions: dict[str, int] = defaultdict(int)
        # Set when the server begins to stop: long-polls answer with what they have, at once.
        self.closing = False
        # Long-polls waiting now, by kind ("sync", "sliding_sync"): a gauge for the metrics.
        self.parked: dict[str, int] = {"sync": 0, "sliding_sync": 0}
        # With several workers: tells the others whom to wake (their own long-polls of these users).
        self.relay: Callable[[Iterable[str]], None] | None = None

    def close(self) -> None:
        """End every wait now and every later one at once: the server is stopping."""
        self.closing = True
        for waiters in self._waiters.values():
            for future in waiters:
                _settle(future, False)

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
            for future in waiters or ():
                if not future.done():
                    future.set_result(True)

    async def wait(
        self, user_id: str, seen_version: int, timeout_s: float, gone: asyncio.Future[Any] | None = None,
        kind: str = "sync",
    ) -> bool:
        """Wait for a change after `seen_version`; False on timeout.

        `gone` resolves when the client has disconnected: the wait ends with ClientGone.
        """
        if gone is not None and gone.done():
            raise ClientGone()
        if self._versions[user_id] != seen_version:
            return True
        if timeout_s <= 0 or self.closing:
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiters.setdefault(user_id, []).append(future)
        # A timer and a callback rather than wait_for and a second task: a long-poll is waiting
        # in every sync answer of a busy server.
        timer = loop.call_later(timeout_s, _settle, future, False)
        client_gone = functools.partial(_client_gone, future)
        if gone is not None:
            gone.add_done_callback(client_gone)
        self.parked[kind] += 1
        try:
            return await future
        finally:
            self.parked[kind] -= 1
            timer.cancel()
            if gone is not None:
                gone.remove_done_callback(client_gone)
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    self._waiters.pop(user_id, None)


class ClientGone(Exception):
    """The client of a waiting request disconnected."""


def _client_gone(future: asyncio.Future[bool], _: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(ClientGone())


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
