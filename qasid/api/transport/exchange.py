"""One request on a connection: its head, its body as it arrives, and how far its answer has got."""

from __future__ import annotations

from typing import Any, NamedTuple

_NO_HEADERS: list[tuple[bytes, bytes]] = []  # shared, never changed: replaced by the response's own


class Request(NamedTuple):
    """A request's head as parsed: enough to make its ASGI scope again."""

    method: str
    url: bytes
    headers: list[tuple[bytes, bytes]]
    http_version: str


class Exchange:
    """One request and how far its answer has got."""

    __slots__ = ("buffered", "chunked", "chunks", "complete", "continue_", "delivered", "done", "given",
                 "head", "headers", "keep", "keep_alive", "request", "scope", "started", "status")

    def __init__(self, request: Request, scope: dict[str, Any], keep_alive: bool, continue_: bool) -> None:
        self.request = request  # what the scope is made from, again when a parked request runs again
        self.scope: dict[str, Any] | None = scope  # None while parked: ~1 KB with what the app adds to it
        self.keep: dict[str, Any] | None = None  # what the app asked to find in the scope when it runs again
        self.keep_alive = keep_alive
        self.continue_ = continue_  # the client waits for "100 Continue" before it sends the body
        self.head = scope["method"] == "HEAD"
        self.chunks: list[bytes] = []  # received, not yet handed to the app
        self.buffered = 0
        self.complete = False  # the whole body has been received
        self.given = False  # the app has had the body's last part
        self.delivered: list[bytes] | None = []  # what the app has had; None once too much to keep
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = _NO_HEADERS  # the response's, once it starts
        self.started = False  # the response's head is written
        self.chunked = False
        self.done = False  # the response is complete
