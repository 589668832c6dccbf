"""A worker SIGKILLed in the middle of a send flood loses nothing: its clients retry on another
worker with the same transaction IDs, get the same event IDs, and their syncs miss nothing."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx

from tests.server import ServerProcess

SENDS = 1000
QUIET = {"set_presence": "offline"}


def _auth(login: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {login['access_token']}"}


async def _send(client: httpx.AsyncClient, base_urls: list[str], room: str, headers: dict[str, str],
                i: int) -> str:
    """PUT one message, moving to the next worker whenever one fails to answer: the client's retry."""
    for attempt in range(40):
        base = base_urls[0] if attempt == 0 else base_urls[1]
        try:
            r = await client.put(f"{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/flood{i}",
                                 headers=headers, json={"msgtype": "m.text", "body": f"m{i}"})
        except httpx.HTTPError:
            await asyncio.sleep(0.05)
            continue
        if r.status_code == 200:
            return str(r.json()["event_id"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"send {i} never acknowledged")


async def test_sigkill_during_a_flood_loses_no_acknowledged_event(workers: list[ServerProcess]) -> None:
    a, b = workers
    alice, bob = a.register("alice"), b.register("bob")
    room = httpx.post(a.base_url + "/_matrix/client/v3/createRoom", headers=_auth(alice),
                      json={"invite": [bob["user_id"]]}).json()["room_id"]
    assert httpx.post(f"{b.base_url}/_matrix/client/v3/rooms/{room}/join", headers=_auth(bob), json={}).status_code == 200
    since = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), params=QUIET).json()["next_batch"]

    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        flood = [asyncio.create_task(_send(client, [a.base_url, b.base_url], room, _auth(alice), i))
                 for i in range(SENDS)]
        while sum(t.done() for t in flood) < SENDS // 5:
            await asyncio.sleep(0.01)
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)  # mid-flood: some sends acknowledged, some queued, some not yet sent
        a.proc.wait()
        acknowledged = await asyncio.gather(*flood)
        # Every retry, again through the surviving worker, gets the same event ID.
        again = await asyncio.gather(*(_send(client, [b.base_url, b.base_url], room, _auth(alice), i)
                                       for i in range(SENDS)))
    assert again == acknowledged

    rows = b.query("SELECT event_id, txn_id FROM events WHERE room_id = ? AND txn_id LIKE ?", (room, "flood%"))
    assert sorted(r[0] for r in rows) == sorted(acknowledged), "every acknowledged event is stored exactly once"
    assert len({r[1] for r in rows}) == SENDS

    # Bob's sync, on the surviving worker, resumes from his token and sees all of them, in one chain.
    seen: list[str] = []
    token = since
    while len(seen) < SENDS:
        r = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), timeout=30,
                      params={"since": token, "timeout": "5000", **QUIET}).json()
        room_part = r.get("rooms", {}).get("join", {}).get(room)
        if room_part is None:
            break
        if room_part["timeline"].get("limited"):
            break
        seen += [e["event_id"] for e in room_part["timeline"]["events"]]
        token = r["next_batch"]
    ordered = b.query("SELECT event_id, pdu FROM events WHERE room_id = ? ORDER BY stream_ordering", (room,))
    previous, depth = None, 0
    for event_id, pdu in ordered:
        parsed = json.loads(bytes(pdu))
        assert parsed["prev_events"] == ([previous] if previous else []) and parsed["depth"] == depth + 1
        previous, depth = event_id, parsed["depth"]
    if len(seen) < SENDS:  # a gappy (limited) sync: the rest is a /messages page away, from the same token
        messages = httpx.get(f"{b.base_url}/_matrix/client/v3/rooms/{room}/messages", headers=_auth(bob),
                             params={"dir": "b", "limit": str(SENDS + 10)}).json()["chunk"]
        seen = [e["event_id"] for e in messages]
    assert set(acknowledged) <= set(seen)
