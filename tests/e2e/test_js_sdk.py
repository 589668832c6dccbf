"""Acceptance: a matrix-js-sdk user and a matrix-nio user talk end-to-end encrypted through qasid.

The js-sdk user (Rust crypto, as in Element) runs in Node, in tests/e2e/js/js_user.mjs, driven over
stdin/stdout JSON lines. It bootstraps cross-signing, secret storage and a key backup; both users
exchange messages in an encrypted room and each must decrypt the other's; the js user's room keys
must reach the backup, and resetting its cross-signing keys must take password UIA. The npm
packages are installed on first use (`npm ci` from the committed package-lock.json).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomMessageText,
    RoomSendResponse,
)

from tests.e2e.js_driver import (
    PASSWORD,
    JsUser,
    decrypted_message,
    nio_sync,
    nio_wait_for,
    unexpected_http_failure,
)
from tests.server import ServerProcess

WHOLE_TEST_SECONDS = 170


async def test_js_sdk_and_nio_exchange_encrypted_messages(
        server: ServerProcess, js_user: JsUser, nio_user: AsyncClient) -> None:
    try:
        await asyncio.wait_for(converse(server, js_user, nio_user), WHOLE_TEST_SECONDS)
    except TimeoutError:
        raise js_user.failure(f"the conversation took longer than {WHOLE_TEST_SECONDS} s") from None


async def converse(server: ServerProcess, js: JsUser, nio: AsyncClient) -> None:
    await asyncio.to_thread(server.register, "alice", PASSWORD)
    await asyncio.to_thread(server.register, "bob", PASSWORD)
    alice, bob = server.user_id("alice"), server.user_id("bob")

    timeline: list[Any] = []  # nio's messages, from the only room in this test

    async def on_room_event(room: MatrixRoom, event: Any) -> None:
        timeline.append(event)

    nio.add_event_callback(on_room_event, (RoomMessageText, MegolmEvent))

    await js.call("login", base_url=server.base_url, user="alice", password=PASSWORD)
    login = await nio.login(PASSWORD, device_name="qasid e2e nio")
    assert isinstance(login, LoginResponse), f"nio login failed: {login}"
    await nio_sync(nio)

    # Before any room exists, so that the room's keys go to the new backup.
    boot = await js.call("bootstrap", timeout_ms=45_000)
    # The first upload of cross-signing keys may go without auth (spec v1.11, MSC3967).
    assert boot["uia_steps"][-1].startswith("accepted"), json.dumps(boot)
    assert boot["cross_signing_ready"], json.dumps(boot)
    assert boot["secret_storage_ready"], json.dumps(boot)
    assert boot["server_backup_version"], json.dumps(boot)
    assert boot["active_backup_version"] == boot["server_backup_version"], json.dumps(boot)

    room_id = (await js.call("create_room", name="js and nio", invite=[bob]))["room_id"]

    await nio_wait_for(nio, 20, f"the invite to {room_id}", lambda: room_id in nio.invited_rooms)
    joined = await nio.join(room_id)
    assert isinstance(joined, JoinResponse), f"nio join failed: {joined}"
    await nio_wait_for(nio, 20, f"{room_id} among joined rooms, encrypted",
                       lambda: room_id in nio.rooms and nio.rooms[room_id].encrypted
                       and room_id not in nio.invited_rooms)
    await js.call("wait_member", room_id=room_id, user_id=bob, membership="join")

    # js -> nio
    sent = await js.call("send", room_id=room_id, body="hello from js-sdk")
    assert sent["wire_type"] == "m.room.encrypted", json.dumps(sent)
    try:
        received = await nio_wait_for(nio, 30, "the js-sdk message, decrypted",
                                      lambda: decrypted_message(nio, timeline, "hello from js-sdk"))
    except AssertionError as timeout:
        undecrypted = [e for e in timeline if isinstance(e, MegolmEvent)]
        raise js.failure(f"{timeout}; events nio could not decrypt: {undecrypted}") from None
    assert received.decrypted and received.sender == alice, received

    # nio -> js
    assert nio.rooms[room_id].encrypted
    response = await nio.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello from nio"},
                                   ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), f"nio send failed: {response}"
    got = await js.call("wait_message", room_id=room_id, body="hello from nio")
    assert got["encrypted"] and got["wire_type"] == "m.room.encrypted" and got["sender"] == bob, json.dumps(got)

    # The js-sdk backs up the keys of the room's sessions in the background.
    backed_up = await js.call("backed_up_sessions", room_id=room_id, minimum=1)
    assert backed_up["version"] == boot["server_backup_version"], json.dumps(backed_up)

    # Replacing the cross-signing keys must take the password.
    reset = await js.call("reset_cross_signing")
    assert reset["uia_steps"][0].startswith("401"), json.dumps(reset)
    assert reset["uia_steps"][-1] == "accepted with m.login.password", json.dumps(reset)
    assert reset["master_key_after"] not in (None, reset["master_key_before"]), json.dumps(reset)
    assert reset["status"]["privateKeysInSecretStorage"], json.dumps(reset)

    # The SDK shrugs off many refusals (retrying, or doing without); a correct server gives none.
    failures = (await js.call("http_failures"))["http_failures"]
    unexpected = [f for f in failures if unexpected_http_failure(f)]
    assert not unexpected, "the server refused js-sdk requests:\n" + json.dumps(unexpected, indent=1)
