"""Acceptance: two matrix-js-sdk users on Simplified Sliding Sync (MSC4186) alone, and a matrix-nio
user on plain /sync, talk end-to-end encrypted through qasid.

The js-sdk users run its `SlidingSync` (the client Element Web uses for MSC4186) with its Rust
crypto: room keys reach them through the to_device and e2ee extensions. They share an encrypted
DM and a 5-member encrypted group with the nio user; each decrypts what the others send. The
room list is ordered by the bump_stamp the server sends and re-orders on a new message. A server
restart expires every connection's `pos` (400 M_UNKNOWN_POS): the clients start again and the
conversation goes on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from nio import AsyncClient, JoinResponse, LoginResponse, MegolmEvent, RoomMessageText, RoomSendResponse

from tests.e2e.js_driver import (
    PASSWORD,
    JsUser,
    decrypted_message,
    nio_sync,
    nio_wait_for,
    unexpected_http_failure,
)
from tests.server import ServerProcess

WHOLE_TEST_SECONDS = 240


def join_over_http(server: ServerProcess, name: str, room_id: str) -> None:
    """A member with no device keys: logs in and joins, nothing more."""
    login = httpx.post(server.base_url + "/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": name}, "password": PASSWORD})
    token = login.json()["access_token"]
    joined = httpx.post(f"{server.base_url}/_matrix/client/v3/join/{room_id}",
                        headers={"authorization": f"Bearer {token}"}, json={})
    assert joined.status_code == 200, joined.text


async def test_sliding_sync_clients_and_a_sync_client_converse_encrypted(
        server: ServerProcess, js_user: JsUser, js_user_2: JsUser, nio_user: AsyncClient) -> None:
    try:
        await asyncio.wait_for(converse(server, js_user, js_user_2, nio_user), WHOLE_TEST_SECONDS)
    except TimeoutError:
        raise js_user.failure(f"the conversation took longer than {WHOLE_TEST_SECONDS} s") from None


async def converse(server: ServerProcess, alice: JsUser, carol: JsUser, nio: AsyncClient) -> None:
    for name in ("alice", "carol", "bob", "dave", "erin"):
        await asyncio.to_thread(server.register, name, PASSWORD)
    ids = {name: server.user_id(name) for name in ("alice", "carol", "bob", "dave", "erin")}
    timeline: list[Any] = []

    async def on_room_event(room: Any, event: Any) -> None:
        timeline.append(event)

    nio.add_event_callback(on_room_event, (RoomMessageText, MegolmEvent))
    await alice.call("login", base_url=server.base_url, user="alice", password=PASSWORD, sliding=True)
    await carol.call("login", base_url=server.base_url, user="carol", password=PASSWORD, sliding=True)
    login = await nio.login(PASSWORD, device_name="qasid e2e nio")
    assert isinstance(login, LoginResponse), f"nio login failed: {login}"
    await nio_sync(nio)

    # An encrypted DM between the two sliding sync users.
    dm = (await alice.call("create_room", name="alice and carol", invite=[ids["carol"]]))["room_id"]
    await carol.call("join", room_id=dm)
    await alice.call("wait_member", room_id=dm, user_id=ids["carol"])
    await exchange(alice, carol, dm, "hello carol", ids["alice"])
    await exchange(carol, alice, dm, "hello alice", ids["carol"])

    # A 5-member encrypted group: the two of them, bob on /sync, and two members without devices.
    group = (await alice.call("create_room", name="five", invite=[ids[n] for n in ("carol", "bob", "dave", "erin")]))
    group_id = group["room_id"]
    await carol.call("join", room_id=group_id)
    await join_with_nio(nio, group_id)
    for name in ("dave", "erin"):
        await asyncio.to_thread(join_over_http, server, name, group_id)
    for name in ("carol", "bob", "dave", "erin"):
        await alice.call("wait_member", room_id=group_id, user_id=ids[name])
    await exchange(alice, carol, group_id, "to the group from alice", ids["alice"])
    await nio_receives(nio, timeline, alice, "to the group from alice", ids["alice"])
    await nio_says(nio, group_id, "to the group from bob")
    for js in (alice, carol):
        got = await js.call("wait_message", room_id=group_id, body="to the group from bob")
        assert got["encrypted"] and got["sender"] == ids["bob"], json.dumps(got)

    # The room list follows activity: the group spoke last, then the DM does.
    order = await alice.call("room_order")
    assert order["sliding"] and [r["room_id"] for r in order["rooms"]] == [group_id, dm], json.dumps(order)
    await exchange(carol, alice, dm, "the DM speaks again", ids["carol"])
    reordered = await wait_order(alice, [dm, group_id])
    stamps = {r["room_id"]: r["bump_stamp"] for r in reordered["rooms"]}
    assert stamps[dm] > stamps[group_id], json.dumps(reordered)
    assert any(r.get("counts", {}).get("all") == 2 for r in reordered["responses"]), json.dumps(reordered)

    # A restart forgets every connection: each client is told its pos is unknown and starts again.
    await asyncio.to_thread(server.restart, False)
    await exchange(alice, carol, dm, "after the restart", ids["alice"])
    await nio_says(nio, group_id, "bob after the restart")
    got = await alice.call("wait_message", room_id=group_id, body="bob after the restart", timeout_ms=45_000)
    assert got["encrypted"], json.dumps(got)
    responses = (await alice.call("room_order"))["responses"]
    assert any(r.get("status") == 400 for r in responses), json.dumps(responses[-10:])

    for js in (alice, carol):
        failures = (await js.call("http_failures"))["http_failures"]
        unexpected = [f for f in failures if unexpected_http_failure(f) and not restart_refusal(f)]
        assert not unexpected, "the server refused js-sdk requests:\n" + json.dumps(unexpected, indent=1)


async def exchange(sender: JsUser, receiver: JsUser, room_id: str, body: str, sender_id: str) -> None:
    sent = await sender.call("send", room_id=room_id, body=body)
    assert sent["wire_type"] == "m.room.encrypted", json.dumps(sent)
    got = await receiver.call("wait_message", room_id=room_id, body=body, timeout_ms=45_000)
    assert got["encrypted"] and got["sender"] == sender_id, json.dumps(got)


async def join_with_nio(nio: AsyncClient, room_id: str) -> None:
    await nio_wait_for(nio, 20, f"the invite to {room_id}", lambda: room_id in nio.invited_rooms)
    joined = await nio.join(room_id)
    assert isinstance(joined, JoinResponse), f"nio join failed: {joined}"
    await nio_wait_for(nio, 20, f"{room_id} joined and encrypted",
                       lambda: room_id in nio.rooms and nio.rooms[room_id].encrypted
                       and room_id not in nio.invited_rooms)


async def nio_receives(nio: AsyncClient, timeline: list[Any], js: JsUser, body: str, sender_id: str) -> None:
    try:
        got = await nio_wait_for(nio, 30, f"{body!r}, decrypted", lambda: decrypted_message(nio, timeline, body))
    except AssertionError as timeout:
        raise js.failure(f"{timeout}; undecrypted: {[e for e in timeline if isinstance(e, MegolmEvent)]}") from None
    assert got.decrypted and got.sender == sender_id, got


async def nio_says(nio: AsyncClient, room_id: str, body: str) -> None:
    await nio_sync(nio)
    response = await nio.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                   ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), f"nio send failed: {response}"


async def wait_order(js: JsUser, expected: list[str]) -> dict[str, Any]:
    for _ in range(100):
        order = await js.call("room_order")
        if [r["room_id"] for r in order["rooms"]] == expected:
            return order
        await asyncio.sleep(0.2)
    raise js.failure(f"room list never became {expected}: {json.dumps(order)}")


def restart_refusal(failure: dict[str, Any]) -> bool:
    """What a restart costs a client: refused connections while it is down, then M_UNKNOWN_POS once."""
    unknown_pos = failure["status"] == 400 and '"M_UNKNOWN_POS"' in failure["body"]
    return failure["status"] is None or unknown_pos
