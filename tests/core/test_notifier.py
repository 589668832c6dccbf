"""The notifier's wait: a parked request's task is woken by cancellation, and only its own counts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from qasid.core.notifier import TIMEOUT_SLOT_S, ClientGone, Notifier


class Connection:
    """An ASGI receive: the request's (empty) body, then `http.disconnect` once `leave()` is called."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.body_read = False

    async def receive(self) -> dict[str, Any]:
        if not self.body_read:
            self.body_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.gone.set()


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_a_change_wakes_the_wait_with_news() -> None:
    async def scenario() -> tuple[bool, int]:
        notifier = Notifier()
        waiting = asyncio.ensure_future(notifier.wait("@a:x", 0, 30, Connection().receive))
        await asyncio.sleep(0.01)
        notifier.notify(["@a:x"])
        return await waiting, notifier.parked["sync"]

    assert run(scenario) == (True, 0)


def test_the_timeout_ends_the_wait_without_news_and_never_early() -> None:
    async def scenario() -> tuple[bool, float]:
        started = time.monotonic()
        news = await Notifier().wait("@a:x", 0, 0.1, Connection().receive)
        return news, time.monotonic() - started

    news, waited = run(scenario)
    assert news is False
    assert 0.1 <= waited < 0.1 + TIMEOUT_SLOT_S + 0.5


def test_a_client_that_leaves_ends_the_wait_with_client_gone() -> None:
    async def scenario() -> None:
        connection = Connection()
        waiting = asyncio.ensure_future(Notifier().wait("@a:x", 0, 30, connection.receive))
        await asyncio.sleep(0.01)
        connection.leave()
        await waiting

    with pytest.raises(ClientGone):
        run(scenario)


def test_closing_answers_every_wait_without_news() -> None:
    async def scenario() -> list[bool]:
        notifier = Notifier()
        waits = [asyncio.ensure_future(notifier.wait(u, 0, 30, Connection().receive)) for u in ("@a:x", "@b:x")]
        await asyncio.sleep(0.01)
        notifier.close()
        return list(await asyncio.gather(*waits))

    assert run(scenario) == [False, False]


def test_a_cancellation_from_elsewhere_still_cancels_even_when_a_wake_lands_too() -> None:
    async def scenario() -> None:
        notifier = Notifier()
        waiting = asyncio.ensure_future(notifier.wait("@a:x", 0, 30, Connection().receive))
        await asyncio.sleep(0.01)
        notifier.notify(["@a:x"])
        waiting.cancel()
        await waiting

    with pytest.raises(asyncio.CancelledError):
        run(scenario)


def test_the_timeout_slot_of_a_wait_that_is_over_does_not_touch_the_task_later() -> None:
    """A wait that ended (here: the client left) leaves its spent wake-up in its timeout slot;
    when the slot fires the task is elsewhere (writing its 499, here asleep) and must go on."""
    async def scenario() -> str:
        notifier = Notifier()
        connection = Connection()
        asyncio.get_running_loop().call_later(0.01, connection.leave)
        with pytest.raises(ClientGone):
            await notifier.wait("@a:x", 0, 2 * TIMEOUT_SLOT_S, connection.receive)
        await asyncio.sleep(5 * TIMEOUT_SLOT_S)  # the slot fires meanwhile
        return "slept through"

    assert run(scenario) == "slept through"
