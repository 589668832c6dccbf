"""Item 3: 500 to-device messages for an offline device: ≤100 per sync, in order, each exactly once.

A message is deleted only once the device syncs with a token later than it, and a SIGKILL between
a sync's response and that acknowledgement loses nothing: the same token gives the same batch again.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.hardening.client import V3, User, new_user, query_db
from tests.server import ServerProcess

MESSAGES = 500
PER_SYNC = 100


def inbox_size(server: ServerProcess, device: User) -> int:
    rows = query_db(server, "SELECT count(*) FROM to_device_inbox WHERE user_id = ? AND device_id = ?",
                    (device.user_id, device.device_id))
    return int(rows[0][0])


def numbers(sync: dict[str, Any]) -> list[int]:
    return [event["content"]["n"] for event in sync["to_device"]["events"]]


def test_500_messages_arrive_in_order_once_and_survive_a_kill(server: ServerProcess) -> None:
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    with httpx.Client(base_url=server.base_url, headers=bob.http.headers, timeout=60) as client:
        for n in range(MESSAGES):  # one after another, so their order is defined
            sent = client.put(f"{V3}/sendToDevice/m.test/q{n}",
                              json={"messages": {alice.user_id: {alice.device_id: {"n": n}}}})
            assert sent.status_code == 200, sent.text
    assert inbox_size(server, alice) == MESSAGES

    # First contact: an initial sync delivers the oldest 100 and deletes nothing yet.
    batch = alice.sync()
    assert numbers(batch) == list(range(100))
    assert inbox_size(server, alice) == MESSAGES
    received = numbers(batch)
    tokens = [batch["next_batch"]]

    # Syncing with the first token acknowledges the first batch and delivers the second.
    batch = alice.sync(tokens[-1])
    assert numbers(batch) == list(range(100, 200))
    assert inbox_size(server, alice) == MESSAGES - 100
    received += numbers(batch)
    tokens.append(batch["next_batch"])

    # Killed after answering, before the device acknowledged: the same token gives the same batch.
    server.restart()
    assert numbers(alice.sync(tokens[-2])) == list(range(100, 200))
    assert inbox_size(server, alice) == MESSAGES - 100

    since = tokens[-1]
    while True:
        batch = alice.sync(since)
        got = numbers(batch)
        assert len(got) <= PER_SYNC
        if not got:
            break
        received += got
        since = batch["next_batch"]
        if received[-1] == 299:
            server.restart()  # a second kill, mid-stream, after the response went out
    assert received == list(range(MESSAGES))
    assert inbox_size(server, alice) == 0
    assert numbers(alice.sync(since)) == []
