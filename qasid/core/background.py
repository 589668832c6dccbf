"""A loop the server runs beside its requests: started with the app, cancelled when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """Runs `loop` as one task of the server's event loop."""

    def __init__(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._loop = loop
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin in the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
