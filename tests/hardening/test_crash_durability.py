"""Item 1: SIGKILL during 1,000 concurrent sends loses no acknowledged event, reorders none, duplicates none.

A 200 with an `event_id` is a promise that the event is on disk. The server is killed as soon as the
client holds its first acknowledgements, with the rest of the flood still in flight.
After the restart every acknowledged event is in its room exactly once, and the history as it was
committed at the moment of the kill is still the start of each room's history, in the same order.
Retrying the unanswered requests with their transaction IDs then completes each exactly once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import httpx

from tests.hardening.client import V3, User, new_user
from tests.server import ServerProcess

SENDS = 1_000
ROOMS = 4
ACKS_BEFORE_KILL = 200
IN_FLIGHT = 100


def send_path(room_id: str, n: int) -> str:
    return f"{V3}/rooms/{room_id}/send/m.room.message/crash-{n}"


def test_sigkill_during_1000_concurrent_sends(server: ServerProcess) -> None:
    alice = new_user(server, "alice")
    rooms = [alice.create_room(name=f"room {i}") for i in range(ROOMS)]
    room_of = {n: rooms[n % ROOMS] for n in range(SENDS)}
    acked: dict[int, str] = {}
    unanswered: list[int] = []
    at_kill: dict[str, list[str]] = {}
    some_acked = threading.Event()

    async def run() -> None:
        # At most IN_FLIGHT at once, so that the flood lasts long enough for the kill to land inside it.
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=server.base_url, headers=alice.http.headers, timeout=60,
                                     limits=limits) as client:
            async def send(n: int) -> None:
                try:
                    response = await client.put(send_path(room_of[n], n),
                                                json={"msgtype": "m.text", "body": f"message {n}", "n": n})
                except httpx.HTTPError:
                    unanswered.append(n)
                    return
                assert response.status_code == 200, response.text
                acked[n] = response.json()["event_id"]
                if len(acked) >= ACKS_BEFORE_KILL:
                    some_acked.set()

            tasks = [asyncio.create_task(send(n)) for n in range(SENDS)]
            await asyncio.gather(*tasks)

    def kill_midway() -> None:
        # A thread of its own, woken by the client's first acknowledgements: the server is killed
        # while the rest of the flood is still in flight. What the file holds after the kill is
        # exactly what was committed at the kill.
        some_acked.wait(120)
        server.kill()
        for room_id in rooms:
            at_kill[room_id] = [event_id for (event_id,) in server.query(
                "SELECT event_id FROM events WHERE room_id = ? ORDER BY stream_ordering", (room_id,))]

    killer = threading.Thread(target=kill_midway)
    killer.start()
    asyncio.run(run())
    killer.join()
    assert unanswered, "the kill must land while sends are still in flight"
    assert acked, "some sends must have been acknowledged before the kill"
    assert len(acked) + len(unanswered) == SENDS
    server.start()

    after: dict[str, list[dict[str, Any]]] = {room_id: alice.timeline(room_id) for room_id in rooms}
    for room_id in rooms:
        ids = [e["event_id"] for e in after[room_id]]
        assert len(ids) == len(set(ids)), "an event is in the history twice"
        # Everything committed at the kill (a superset of what was acknowledged then) is there, in order.
        assert ids[:len(at_kill[room_id])] == at_kill[room_id], "history committed before the kill changed"
        numbers = [e["content"]["n"] for e in after[room_id] if "n" in e.get("content", {})]
        assert len(numbers) == len(set(numbers)), f"a send was stored twice: {Counter(numbers).most_common(3)}"
    present = {e["event_id"]: room_id for room_id, events in after.items() for e in events}
    lost = {n: event_id for n, event_id in acked.items() if present.get(event_id) != room_of[n]}
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {list(lost.items())[:3]}"

    # Retrying what got no answer finishes each send exactly once: a committed one keeps its event ID.
    committed = {e["content"]["n"]: e["event_id"] for events in after.values() for e in events
                 if "n" in e.get("content", {})}
    async def retry_all() -> None:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=server.base_url, headers=alice.http.headers, timeout=60,
                                     limits=limits) as client:
            async def retry(n: int) -> None:
                response = await client.put(send_path(room_of[n], n),
                                            json={"msgtype": "m.text", "body": "retry", "n": n})
                assert response.status_code == 200, response.text
                if n in committed:
                    assert response.json()["event_id"] == committed[n]

            await asyncio.gather(*(retry(n) for n in unanswered))

    asyncio.run(retry_all())
    for room_id in rooms:
        events = alice.timeline(room_id)
        numbers = [e["content"]["n"] for e in events if "n" in e.get("content", {})]
        assert sorted(numbers) == [n for n in range(SENDS) if room_of[n] == room_id]
        assert [e["event_id"] for e in events][:len(after[room_id])] == [e["event_id"] for e in after[room_id]]
    # The room still works after the crash: a new event builds on the last one.
    User.send(alice, rooms[0], "after-crash", {"msgtype": "m.text", "body": "still here"})
