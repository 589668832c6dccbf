"""The few HTTP primitives the handlers use, directly on ASGI: requests, responses, files, routes.

qasid dispatches requests itself (`router.py`) and parses what it reads itself (`http.py`); a web
framework underneath would only lend these classes, at the price of its own dependencies in every
process (1.5 MB of resident memory for Starlette and what it imports) and of work per request
that nothing here needs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

FILE_CHUNK_BYTES = 64 * 1024


class ClientDisconnect(Exception):
    """The client went away before its request body had arrived."""


class Request:
    """One HTTP request: its ASGI scope and the channel its body arrives on."""

    __slots__ = ("receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def path_params(self) -> dict[str, str]:
        return self.scope["path_params"]  # type: ignore[no-any-return]

    @property
    def query_params(self) -> dict[str, str]:
        """The query string's parameters (the last of a repeated name wins), decoded once per request.

        Each name and value is unquoted through a cache: a client's long-poll repeats the same
        URL-encoded filter on every request.
        """
        parsed: dict[str, str] | None = self.scope.get("qasid.query")
        if parsed is None:
            parsed = {}
            for pair in self.scope["query_string"].decode("latin-1").split("&"):
                if pair:
                    name, _, value = pair.partition("=")
                    parsed[_unquote(name)] = _unquote(value)
            self.scope["qasid.query"] = parsed
        return parsed

    def header(self, name: bytes) -> str | None:
        """One header's value (`name` in lower case; the first if repeated), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    @property
    def app(self) -> Any:
        return self.scope["app"]

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, chunk by chunk."""
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return


def _unquote(raw: str) -> str:
    # Only short strings are cached, so the cache stays small whatever clients send.
    return _unquote_cached(raw) if len(raw) <= 1024 else urllib.parse.unquote_plus(raw, errors="replace")


@functools.lru_cache(maxsize=4096)
def _unquote_cached(raw: str) -> str:
    return urllib.parse.unquote_plus(raw, errors="replace")


class Response:
    """A complete response: status, headers and a body held in memory."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(
        self, content: bytes = b"", status_code: int = 200, headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = content
        self.raw_headers = _raw_headers(headers, media_type, len(content))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


class FileResponse(Response):
    """A file streamed from disk in chunks, read off the event loop."""

    __slots__ = ("path",)

    def __init__(self, path: Path, media_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.status_code = 200
        self.body = b""
        self.raw_headers = _raw_headers(headers, media_type, os.stat(path).st_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        f = await asyncio.to_thread(open, self.path, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(f.read, FILE_CHUNK_BYTES)
                more = len(chunk) == FILE_CHUNK_BYTES
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return
        finally:
            f.close()


def _raw_headers(headers: Mapping[str, str] | None, media_type: str | None, length: int) -> list[tuple[bytes, bytes]]:
    raw = [(b"content-length", str(length).encode())]
    if media_type is not None:
        raw.append((b"content-type", media_type.encode("latin-1")))
    for name, value in (headers or {}).items():
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return raw


Handler = Callable[[Request], Awaitable[Response]]

# A path parameter matches one segment; `{name:path}` matches the rest of the path, slashes too.
_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::(path))?\}")


@dataclass
class Route:
    """One path template, its methods and its handler; a GET route answers HEAD as well."""

    path: str
    endpoint: Handler
    methods: set[str] = field(default_factory=lambda: {"GET"})
    regex: re.Pattern[str] = field(init=False)
    has_params: bool = field(init=False)

    def __post_init__(self) -> None:
        if "GET" in self.methods:
            self.methods = self.methods | {"HEAD"}
        pattern, last = [], 0
        for found in _PARAM.finditer(self.path):
            pattern.append(re.escape(self.path[last:found.start()]))
            pattern.append(f"(?P<{found[1]}>{'.*' if found[2] else '[^/]+'})")
            last = found.end()
        pattern.append(re.escape(self.path[last:]))
        self.regex = re.compile("^" + "".join(pattern) + "$")
        self.has_params = last > 0
