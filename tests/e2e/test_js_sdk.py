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
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptionError,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from tests.server import ServerProcess

JS_DIR = Path(__file__).parent / "js"
JS_USER_SCRIPT = JS_DIR / "js_user.mjs"
PASSWORD = "correct horse battery"
WHOLE_TEST_SECONDS = 170
NPM_INSTALL_SECONDS = 150


def install_npm_packages() -> None:
    """`npm ci` in tests/e2e/js unless node_modules already matches package-lock.json."""
    lock = JS_DIR / "package-lock.json"
    installed = JS_DIR / "node_modules" / ".package-lock.json"  # npm writes it after every install
    if installed.exists() and lock.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    command = ["npm", "ci"] if lock.exists() else ["npm", "install"]
    done = subprocess.run(
        [*command, "--no-audit", "--no-fund"], check=False, cwd=JS_DIR, capture_output=True, text=True,
        timeout=NPM_INSTALL_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {JS_DIR} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def js_sdk_installed() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the matrix-js-sdk end-to-end test needs {' and '.join(missing)} on PATH")
    install_npm_packages()


class JsUserFailed(AssertionError):
    """A js-sdk step failed; the message quotes the Node process's stderr."""


class JsUser:
    """The Node process holding one matrix-js-sdk client; each call is one command and its reply."""

    def __init__(self, process: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self.next_id = 0

    @classmethod
    async def start(cls, stderr_path: Path) -> JsUser:
        stderr = stderr_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            "node", str(JS_USER_SCRIPT), cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            limit=16 * 1024 * 1024)
        stderr.close()
        return cls(process, stderr_path)

    def stderr_tail(self, lines: int = 120) -> str:
        text = self.stderr_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def failure(self, what: str) -> JsUserFailed:
        return JsUserFailed(
            f"{what}\n--- js-sdk stderr (last lines; whole log at {self.stderr_path}) ---\n"
            f"{self.stderr_tail()}")

    async def call(self, cmd: str, timeout_ms: int = 30_000, **args: Any) -> dict[str, Any]:
        """Sends one command and waits for its reply; any error reply or silence fails the test."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.next_id += 1
        command = {"id": self.next_id, "cmd": cmd, "timeout_ms": timeout_ms, **args}
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        try:
            # The script bounds the command itself; the margin covers its start-up and HTTP calls.
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout_ms / 1000 + 15)
        except TimeoutError:
            raise self.failure(f"js-sdk gave no reply to {cmd} in time") from None
        if not line:
            code = await asyncio.wait_for(self.process.wait(), 5)
            raise self.failure(f"js-sdk process exited (code {code}) during {cmd}")
        result: dict[str, Any] = json.loads(line)
        if result.get("id") != self.next_id or not result.get("ok"):
            failures = json.dumps(result.pop("http_failures", []), indent=1)
            raise self.failure(f"js-sdk {cmd} failed: {json.dumps(result)}\n"
                               f"--- requests the server refused ---\n{failures}")
        return result

    async def close(self) -> None:
        if self.process.returncode is None:
            try:
                await self.call("stop", timeout_ms=5_000)
                await asyncio.wait_for(self.process.wait(), 10)
            except (TimeoutError, AssertionError, ConnectionError):
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def js_user(js_sdk_installed: None, tmp_path: Path) -> AsyncIterator[JsUser]:
    user = await JsUser.start(tmp_path / "js_user.stderr.log")
    try:
        yield user
    finally:
        await user.close()


@pytest.fixture
async def nio_user(server: ServerProcess, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    store = tmp_path / "nio_store"
    store.mkdir()
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True,
                               request_timeout=20, max_timeouts=2, max_limit_exceeded=0)
    client = AsyncClient(server.base_url, server.user_id("bob"), store_path=str(store), config=config)
    try:
        yield client
    finally:
        await client.close()


async def nio_sync(client: AsyncClient) -> SyncResponse:
    """One sync plus the key housekeeping nio's sync_forever would do after it."""
    response = await client.sync(timeout=500)
    assert isinstance(response, SyncResponse), f"nio sync failed: {response}"
    if client.should_upload_keys:
        assert not isinstance(uploaded := await client.keys_upload(), ErrorResponse), uploaded
    if client.should_query_keys:
        assert not isinstance(queried := await client.keys_query(), ErrorResponse), queried
    if client.should_claim_keys:
        claimed = await client.keys_claim(client.get_users_for_key_claiming())
        assert not isinstance(claimed, ErrorResponse), claimed
    for sent in await client.send_to_device_messages():
        assert not isinstance(sent, ErrorResponse), sent
    return response


async def nio_wait_for(client: AsyncClient, seconds: float, what: str, found: Any) -> Any:
    """Syncs until `found()` returns something; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await nio_sync(client)
        if result := found():
            return result
    raise AssertionError(f"nio: timed out after {seconds} s waiting for {what}")


def unexpected_http_failure(failure: dict[str, Any]) -> bool:
    """False for the refusals a correct server gives the js-sdk in this test; True for any other."""
    path, status, body = failure["path"].split("?")[0], failure["status"], failure["body"]
    expected = (
        (status is None and "AbortError" in body)  # the SDK abandons its long-poll /sync when stopped
        or (path.endswith("/room_keys/version") and status == 404 and '"M_NOT_FOUND"' in body)
        or ("/unstable/" in path and status == 404 and '"M_UNRECOGNIZED"' in body)
        or (path.endswith("/keys/device_signing/upload") and status == 401 and '"flows"' in body)
    )
    return not expected


def decrypted_message(client: AsyncClient, timeline: list[Any], body: str) -> RoomMessageText | None:
    """The message with this body, decrypting again events whose room key came in a later sync."""
    for index, event in enumerate(timeline):
        if isinstance(event, MegolmEvent):
            try:
                timeline[index] = event = client.decrypt_event(event)
            except EncryptionError:
                continue
        if isinstance(event, RoomMessageText) and event.body == body:
            return event
    return None


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
