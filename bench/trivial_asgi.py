"""The ceiling: a raw ASGI app that answers the load generator's calls and does nothing else.

Served by the same uvicorn + uvloop + httptools as qasid, it measures what the HTTP stack and
the load generator can do on this machine with no homeserver work at all:

    python -m uvicorn bench.trivial_asgi:app --loop uvloop --http httptools --no-access-log --port 18010

- PUT …/send/…  → {"event_id": "$<n>"} after reading the body (not parsed, not stored).
- /register, /login → a made-up account at once (no UIA, no hashing); /createRoom, /join → ids.
- /sync → an empty response; with `since` it first waits out the long-poll timeout (no events
  ever arrive, so the generator runs it without delivery assessment).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_counter = itertools.count(1)
_HEADERS = [(b"content-type", b"application/json")]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, payload: bytes, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": payload})


def _account(body: bytes) -> bytes:
    username = "user"
    try:
        username = str(orjson.loads(body).get("username") or "user")
    except orjson.JSONDecodeError:
        pass
    n = next(_counter)
    return orjson.dumps({"user_id": f"@{username}:trivial", "access_token": f"tok{n}", "device_id": f"D{n}"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, method = scope["path"], scope["method"]
    body = await _body(receive)
    if method == "PUT" and "/send/" in path:
        await _reply(send, b'{"event_id":"$%d"}' % next(_counter))
    elif path.endswith("/sync"):
        query = parse_qs(scope["query_string"].decode())
        if "since" in query:
            await asyncio.sleep(int(query.get("timeout", ["0"])[0]) / 1000)
        await _reply(send, b'{"next_batch":"s1","rooms":{"join":{}}}')
    elif path.endswith(("/register", "/login")):
        await _reply(send, _account(body))
    elif path.endswith("/createRoom"):
        await _reply(send, b'{"room_id":"!r%d:trivial"}' % next(_counter))
    elif path.endswith("/join"):
        await _reply(send, b"{}")
    elif path.endswith("/versions"):
        await _reply(send, b'{"versions":["v1.11"]}')
    else:
        await _reply(send, b'{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}', 404)
