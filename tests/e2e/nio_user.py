"""A real matrix-nio client (vodozemac crypto) as a test participant."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

ENCRYPTION = {"type": "m.room.encryption", "state_key": "",
              "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


class NioUser:
    """One device of one user, with its own crypto store, driven step by step."""

    def __init__(self, base_url: str, localpart: str, store_dir: Path, device_id: str | None = None) -> None:
        store_dir.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
        self.client = AsyncClient(base_url, localpart, device_id=device_id, store_path=str(store_dir),
                                  config=config)
        self.received: dict[str, list[str]] = {}
        self.undecryptable: list[MegolmEvent] = []

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def register(self, password: str, token: str) -> None:
        response = await self.client.register_with_token(
            self.client.user, password, token, device_name="test device")
        assert isinstance(response, RegisterResponse), response
        await self._after_login()

    async def login(self, password: str, device_name: str = "second device") -> None:
        response = await self.client.login(password, device_name=device_name)
        assert isinstance(response, LoginResponse), response
        await self._after_login()

    async def _after_login(self) -> None:
        await self.sync()

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        """One sync, then the key work a real client does after each one."""
        response = await self.client.sync(timeout=timeout_ms, full_state=self.client.next_batch is None)
        assert isinstance(response, SyncResponse), response
        for room_id, room in response.rooms.join.items():
            for event in room.timeline.events:
                if isinstance(event, RoomMessageText):
                    self.received.setdefault(room_id, []).append(event.body)
                elif isinstance(event, MegolmEvent):
                    self.undecryptable.append(event)
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        return response

    async def create_encrypted_room(self, invite: list[str]) -> str:
        response = await self.client.room_create(invite=invite, initial_state=[ENCRYPTION], name="e2e")
        assert isinstance(response, RoomCreateResponse), response
        await self.sync()
        return str(response.room_id)

    async def join(self, room_id: str) -> None:
        await self.sync()
        response = await self.client.join(room_id)
        assert isinstance(response, JoinResponse), response
        await self.sync()

    async def send(self, room_id: str, body: str) -> str:
        await self.sync()
        response = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def wait_for(self, room_id: str, body: str, timeout_s: float = 20) -> None:
        """Sync until `body` arrives decrypted in `room_id`."""
        deadline = time.monotonic() + timeout_s
        while body not in self.received.get(room_id, []):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.user_id}/{self.client.device_id} never decrypted {body!r} in {room_id}; "
                    f"got {self.received.get(room_id)}, undecryptable: {len(self.undecryptable)}")
            await self.sync(timeout_ms=1000)

    async def sees_nothing_of(self, room_id: str, body: str, rounds: int = 3) -> None:
        for _ in range(rounds):
            await self.sync(timeout_ms=300)
        assert body not in self.received.get(room_id, []), f"{self.user_id} should not have received {body!r}"

    async def close(self) -> None:
        await self.client.close()


async def gather(*coroutines: Any) -> list[Any]:
    return list(await asyncio.gather(*coroutines))
