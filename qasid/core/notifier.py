"""Wakes waiting /sync requests when something they care about is committed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class Notifier:
    """Per-user wake-ups with a per-user change counter.

    A sync reads `version(user)` before it reads the streams, and waits only if the counter
    has not moved since: a change committed between the read and the wait is never missed.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._versions: dict[str, int] = defaultdict(int)

    def version(self, user_id: str) -> int:
        """How many changes this user has been told of (in this process)."""
        return self._versions[user_id]

    def notify(self, user_ids: Iterable[str]) -> None:
        """Wake every sync waiting for any of these users."""
        for user_id in user_ids:
            self._versions[user_id] += 1
            waiters = self._waiters.pop(user_id, None)
            for future in waiters or ():
                if not future.done():
                    future.set_result(None)

    async def wait(self, user_id: str, seen_version: int, timeout_s: float) -> bool:
        """Wait for a change after `seen_version`; False on timeout."""
        if self._versions[user_id] != seen_version:
            return True
        if timeout_s <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[user_id].add(future)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    self._waiters.pop(user_id, None)
