"""Typing notifications: in memory only, each with a timeout, on a stream of their own.

The stream position starts at the wall clock in milliseconds so that it keeps growing across
restarts: a sync token from before a restart is never ahead of the new process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

MAX_TIMEOUT_MS = 120_000
DEFAULT_TIMEOUT_MS = 30_000


class TypingState:
    """Who is typing where, until when; `on_change(room_id)` is called after every change."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self._on_change = on_change
        self._position = int(time.time() * 1000)
        self._typing: dict[str, dict[str, asyncio.TimerHandle]] = {}
        self._changed_at: dict[str, int] = {}

    def position(self) -> int:
        """The current position of the typing stream."""
        return self._position

    def set_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int | None) -> None:
        """Start (for at most MAX_TIMEOUT_MS) or stop the user typing in the room."""
        room = self._typing.setdefault(room_id, {})
        previous = room.pop(user_id, None)
        if previous is not None:
            previous.cancel()
        if typing:
            timeout = min(MAX_TIMEOUT_MS, max(0, timeout_ms if timeout_ms is not None else DEFAULT_TIMEOUT_MS))
            loop = asyncio.get_running_loop()
            room[user_id] = loop.call_later(timeout / 1000, self._expire, room_id, user_id)
        elif previous is None:
            return  # stopping when not typing changes nothing
        self._changed(room_id)

    def _expire(self, room_id: str, user_id: str) -> None:
        room = self._typing.get(room_id, {})
        if room.pop(user_id, None) is not None:
            self._changed(room_id)

    def _changed(self, room_id: str) -> None:
        if not self._typing.get(room_id):
            self._typing.pop(room_id, None)
        # The wall clock, where it is ahead: workers started at different times then hand out
        # positions close to each other's, so a token from one is not far ahead of another.
        self._position = max(self._position + 1, int(time.time() * 1000))
        self._changed_at[room_id] = self._position
        self._on_change(room_id)

    def typing_in(self, room_id: str) -> list[str]:
        """The users typing in the room now."""
        return sorted(self._typing.get(room_id, {}))

    def changed_since(self, room_ids: Iterable[str], after: int) -> dict[str, list[str]]:
        """{room_id: users typing now} for the rooms whose typing changed after `after`."""
        return {
            room_id: self.typing_in(room_id)
            for room_id in room_ids
            if self._changed_at.get(room_id, 0) > after
        }
