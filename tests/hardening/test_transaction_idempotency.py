"""Item 2: a (device, endpoint, txnId) names one request: the same event or message, however often it comes.

Holds for `/send` and `/sendToDevice`, with a different body on the retry, under concurrency, and
across a SIGKILL. Another device, or another room, with the same txnId is a new request.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.hardening.client import V3, User, login, new_user
from tests.server import ServerProcess


def message(body: str) -> dict[str, str]:
    return {"msgtype": "m.text", "body": body}


def bodies(user: User, room_id: str) -> list[str]:
    return [e["content"].get("body") for e in user.timeline(room_id) if e["type"] == "m.room.message"]


def test_send_is_idempotent_per_device_and_room_across_restart(server: ServerProcess) -> None:
    alice = new_user(server, "alice")
    alice_phone = User(server, login(server, "alice"))
    room, other_room = alice.create_room(), alice.create_room()

    first = alice.send(room, "t1", message("first"))
    assert alice.send(room, "t1", message("a different body")) == first
    on_phone = alice_phone.send(room, "t1", message("from the phone"))
    in_other_room = alice.send(other_room, "t1", message("elsewhere"))
    assert len({first, on_phone, in_other_room}) == 3
    # The same txnId for another event type is another endpoint path: a new event.
    other_type = alice.put(f"/rooms/{room}/send/org.example.note/t1", {"note": 1})
    assert other_type.status_code == 200 and other_type.json()["event_id"] not in (first, on_phone)

    server.restart()  # SIGKILL: the transaction records must be on disk with their events
    assert alice.send(room, "t1", message("after the crash")) == first
    assert alice_phone.send(room, "t1", message("after the crash")) == on_phone
    assert alice.send(other_room, "t1", message("after the crash")) == in_other_room
    assert bodies(alice, room) == ["first", "from the phone"]
    assert bodies(alice, other_room) == ["elsewhere"]


def test_concurrent_retries_of_one_send_store_one_event(server: ServerProcess) -> None:
    alice = new_user(server, "alice")
    room = alice.create_room()

    async def race() -> set[str]:
        async with httpx.AsyncClient(base_url=server.base_url, headers=alice.http.headers, timeout=60) as client:
            responses = await asyncio.gather(*(
                client.put(f"{V3}/rooms/{room}/send/m.room.message/same", json=message(f"copy {i}"))
                for i in range(30)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return {r.json()["event_id"] for r in responses}

    event_ids = asyncio.run(race())
    assert len(event_ids) == 1
    assert len(bodies(alice, room)) == 1


def test_send_to_device_is_idempotent_per_device_across_restart(server: ServerProcess) -> None:
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    bob_phone = User(server, login(server, "bob"))
    since = alice.sync()["next_batch"]

    def to_alice(sender: User, txn_id: str, n: int) -> None:
        sent = sender.put(f"/sendToDevice/m.test/{txn_id}",
                          {"messages": {alice.user_id: {alice.device_id: {"n": n}}}})
        assert sent.status_code == 200, sent.text

    to_alice(bob, "t1", 1)
    to_alice(bob, "t1", 2)          # a retry with another body: not stored again
    to_alice(bob_phone, "t1", 3)    # another device: a new message
    server.restart()
    to_alice(bob, "t1", 4)          # still a retry after the crash
    to_alice(bob_phone, "t1", 5)

    async def race() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, headers=bob.http.headers, timeout=60) as client:
            responses = await asyncio.gather(*(
                client.put(f"{V3}/sendToDevice/m.test/raced",
                           json={"messages": {alice.user_id: {alice.device_id: {"n": 6 + i}}}})
                for i in range(20)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]

    asyncio.run(race())
    received = alice.sync(since)["to_device"]["events"]
    contents = [e["content"]["n"] for e in received]
    assert contents[:2] == [1, 3]
    assert len(contents) == 3 and 6 <= contents[2] < 26, contents
    assert [e["sender"] for e in received] == [bob.user_id] * 3
