"""A thin Matrix Client-Server client on aiohttp: only what the load generator needs.

It speaks nothing but the spec's HTTP API, so the same calls drive qasid, Synapse and the
trivial ASGI ceiling. One pooled `aiohttp.ClientSession` is shared by every simulated user;
bodies are encoded and decoded with orjson to keep the generator's own CPU low.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

PREFIX = "/_matrix/client/v3"
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_REGISTER_ROUNDS = 8


class MatrixHTTPError(Exception):
    """A non-2xx answer: status, errcode and the body, so a failing run says exactly why."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.status = status
        try:
            self.errcode = str(orjson.loads(body).get("errcode", ""))
        except (orjson.JSONDecodeError, AttributeError):
            self.errcode = ""
        super().__init__(f"{method} {path} -> {status} {body[:300]!r}")


def new_session(pool_size: int = 512) -> aiohttp.ClientSession:
    """One pooled keep-alive session for a whole run; no cookies, no decompression."""
    connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=120, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        json_serialize=lambda v: orjson.dumps(v).decode(),
    )


@dataclass
class Account:
    """A logged-in device: the user, its access token, and the headers that carry it."""

    user_id: str
    access_token: str
    device_id: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"}


class MatrixClient:
    """Client-Server calls against one homeserver base URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def request(
        self, method: str, path: str, body: Any = None, account: Account | None = None,
        params: dict[str, str] | None = None, ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """(status, decoded JSON); raises MatrixHTTPError unless the status is in `ok`."""
        data = orjson.dumps(body) if body is not None else None
        headers = account.headers if account else JSON_HEADERS
        async with self.session.request(
            method, self.base_url + path, data=data, headers=headers, params=params,
        ) as response:
            raw = await response.read()
            if response.status not in ok:
                raise MatrixHTTPError(method, path, response.status, raw)
            return response.status, (orjson.loads(raw) if raw else None)

    # --- accounts ---------------------------------------------------------------------------

    async def register(self, username: str, password: str, registration_token: str | None) -> Account:
        """Registration through user-interactive auth, completing whatever flow the server offers
        from the stages we can do: m.login.registration_token (qasid) and m.login.dummy (Synapse)."""
        body: dict[str, Any] = {"username": username, "password": password,
                                "initial_device_display_name": "loadgen"}
        status, reply = await self.request("POST", PREFIX + "/register", body, ok=(200, 401))
        # A few rounds more than the flow's stages: with several workers, a stage may land on one
        # whose copy of the session is a moment behind, and be asked for again.
        for _ in range(MAX_REGISTER_ROUNDS):
            if status == 200:
                return Account(reply["user_id"], reply["access_token"], reply["device_id"], password)
            stage = _next_stage(reply, registration_token is not None)
            auth: dict[str, Any] = {"type": stage, "session": reply.get("session")}
            if stage == "m.login.registration_token":
                auth["token"] = registration_token
            status, reply = await self.request(
                "POST", PREFIX + "/register", {**body, "auth": auth}, ok=(200, 401))
        if status == 200:
            return Account(reply["user_id"], reply["access_token"], reply["device_id"], password)
        raise RuntimeError(f"registration of {username} did not finish: {reply}")

    async def login(self, user_id: str, password: str) -> Account:
        """Password login: a new device each time."""
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id},
                "password": password, "initial_device_display_name": "loadgen"}
        _, reply = await self.request("POST", PREFIX + "/login", body)
        return Account(reply["user_id"], reply["access_token"], reply["device_id"], password)

    # --- rooms ------------------------------------------------------------------------------

    async def create_encrypted_room(
        self, creator: Account, invite: list[str], name: str, is_direct: bool,
    ) -> str:
        """A private room with m.room.encryption (Megolm) in its initial state, inviting `invite`."""
        body = {
            "preset": "trusted_private_chat" if is_direct else "private_chat",
            "is_direct": is_direct,
            "name": name,
            "invite": invite,
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }
        _, reply = await self.request("POST", PREFIX + "/createRoom", body, creator)
        return str(reply["room_id"])

    async def join(self, account: Account, room_id: str) -> None:
        await self.request("POST", f"{PREFIX}/rooms/{quote(room_id)}/join", {}, account)

    async def send_encrypted(self, account: Account, room_id: str, txn_id: str, body: bytes) -> str:
        """PUT one m.room.encrypted event (body already encoded); returns its event ID."""
        path = f"{PREFIX}/rooms/{quote(room_id)}/send/m.room.encrypted/{txn_id}"
        async with self.session.put(self.base_url + path, data=body, headers=account.headers) as response:
            raw = await response.read()
            if response.status != 200:
                raise MatrixHTTPError("PUT", path, response.status, raw)
            return str(orjson.loads(raw)["event_id"])

    # --- sync -------------------------------------------------------------------------------

    async def sync_raw(
        self, account: Account, since: str | None, timeout_ms: int, filter_json: str | None,
    ) -> bytes:
        """One /sync, the raw body (callers decide how much of it to decode)."""
        params = {"timeout": str(timeout_ms)}
        if since:
            params["since"] = since
        if filter_json:
            params["filter"] = filter_json
        async with self.session.get(
            self.base_url + PREFIX + "/sync", params=params, headers=account.headers,
        ) as response:
            raw = await response.read()
            if response.status != 200:
                raise MatrixHTTPError("GET", "/sync", response.status, raw)
            return raw

    async def wait_until_up(self, deadline_s: float = 60.0) -> None:
        """Poll /versions until the server answers."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                await self.request("GET", "/_matrix/client/versions")
                return
            except (aiohttp.ClientError, MatrixHTTPError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


def _next_stage(reply: dict[str, Any], have_token: bool) -> str:
    completed = set(reply.get("completed", []))
    doable = {"m.login.dummy"} | ({"m.login.registration_token"} if have_token else set())
    for flow in reply.get("flows", []):
        stages = flow.get("stages", [])
        if set(stages) <= doable:
            for stage in stages:
                if stage not in completed:
                    return str(stage)
    raise RuntimeError(f"no registration flow this generator can complete: {reply}")

