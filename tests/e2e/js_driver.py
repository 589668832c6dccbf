"""Drives a matrix-js-sdk user (tests/e2e/js/js_user.mjs, in Node) and a matrix-nio user for the
end-to-end tests: the Node process, its command protocol, and nio's sync housekeeping."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from nio import AsyncClient, EncryptionError, ErrorResponse, MegolmEvent, RoomMessageText, SyncResponse

JS_DIR = Path(__file__).parent / "js"
JS_USER_SCRIPT = JS_DIR / "js_user.mjs"
PASSWORD = "correct horse battery"
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
