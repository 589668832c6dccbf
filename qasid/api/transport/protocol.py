"""One HTTP/1.1 connection: requests parsed by httptools and run through the ASGI app one at a time.

What sets it apart from a general ASGI server is the parked long-poll. A `/sync` with nothing to
say raises `Park` out of the app instead of awaiting; the connection then holds its request
(scope and body) and a place in the notifier, and no task, future or coroutine frame; when the
notifier calls it back it runs the request again from the start (`Park`). The connection is
the request's ASGI `receive` too (`__call__`): no closure is made per request.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from qasid.api.transport.exchange import Exchange, Request
from qasid.core.notifier import Held, Park

if TYPE_CHECKING:
    from qasid.api.transport.server import Shared

log = logging.getLogger("qasid.http")

MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
# Body bytes read ahead of the app before the connection stops reading.
READ_AHEAD_BYTES = 256 * 1024
# A body up to this size is kept after the app has read it, so that a parked request can run again.
REPLAYABLE_BODY_BYTES = 64 * 1024

_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
# Header names as clients spell them -> lower case, one bytes object shared by every request.
_NAMES: dict[bytes, bytes] = {}
_DISCONNECT = {"type": "http.disconnect"}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY = frozenset({204, 304})


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    __slots__ = ("client", "closed", "current", "header_bytes", "headers", "held", "parked_user", "parser",
                 "queue", "reading", "resumed_deadline", "shared", "task", "timer", "transport", "url",
                 "waiter", "writable")

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once by connection_made
        # None while a request is parked with nothing more to read: a parser and the bound methods
        # it keeps are ~0.9 KB, and a fresh one parses the next request the same.
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.client: tuple[str, int] | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.current: Exchange | None = None  # the request being answered (or parked)
        self.reading: Exchange | None = None  # the request whose body is arriving
        self.queue: deque[Exchange] | None = None  # pipelined requests, waiting their turn
        self.task: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[None] | None = None  # the app, waiting for body bytes or the end
        self.writable: asyncio.Future[None] | None = None  # unset while the transport's buffer is full
        self.held: Held | None = None  # the notifier's hold on the parked request
        self.parked_user = ""
        self.resumed_deadline: float | None = None  # read by the app (`deadline_for`)
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    # --- the transport's calls -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        # ASGI's (host, port): IPv4's peer name as it is, IPv6's without its flow and scope.
        self.client = (peer if len(peer) == 2 else peer[:2]) if isinstance(peer, tuple) else None
        self.shared.connections.add(self)
        self._idle(self.shared.first_request_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.shared.connections.discard(self)
        self._cancel_timer()
        if self.held is not None:
            self.shared.notifier.release(self.parked_user, self.held)
            self.held = None
        self._wake_reader()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.parser is None:
            self.parser = httptools.HttpRequestParser(self)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b"Upgrades are not supported")
        except httptools.HttpParserError as e:
            if not isinstance(e.__context__, _Refused):
                self._refuse(400, b"Invalid HTTP request")

    def pause_writing(self) -> None:
        if self.writable is None or self.writable.done():
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    # --- the parser's calls ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.header_bytes = 0
        if self.current is None:  # a head sent a byte at a time must still be whole within the limit
            self._idle(self.shared.first_request_timeout_s)

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(414, b"URI too long")
            raise _Refused()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES or len(self.headers) >= MAX_HEADERS:
            self._refuse(431, b"Request header fields too large")
            raise _Refused()
        lower = _NAMES.get(name)
        if lower is None:
            lower = name.lower()
            if len(_NAMES) < 1024:
                _NAMES[name] = lower
        self.headers.append((lower, value))

    def on_headers_complete(self) -> None:
        self._cancel_timer()
        parser = self.parser
        assert parser is not None  # it is the caller
        request = Request(parser.get_method().decode("ascii"), self.url, self.headers, parser.get_http_version())
        try:
            scope = self._scope(request)
        except httptools.HttpParserInvalidURLError:
            self._refuse(400, b"Invalid URL")
            raise _Refused() from None
        expect = any(name == b"expect" and value.lower() == b"100-continue" for name, value in self.headers)
        exchange = Exchange(request, scope, parser.should_keep_alive(), expect)
        self.reading = exchange
        if self.current is None:
            self._start(exchange)
        else:  # pipelined: answered in order, after the one before it
            if self.queue is None:
                self.queue = deque()
            self.queue.append(exchange)
            self.transport.pause_reading()

    def on_body(self, body: bytes) -> None:
        exchange = self.reading
        if exchange is None or exchange.done:
            return  # answered without reading it all: the rest is dropped
        exchange.chunks.append(body)
        exchange.buffered += len(body)
        if exchange.buffered > READ_AHEAD_BYTES:
            self.transport.pause_reading()
        self._wake_reader()

    def on_message_complete(self) -> None:
        if self.reading is not None:
            self.reading.complete = True
            self.reading = None
        self._wake_reader()

    # --- the app's calls -------------------------------------------------------------------

    def can_park(self) -> bool:
        """Whether this request can be held without its task (Notifier.wait asks)."""
        exchange = self.current
        return not self.closed and exchange is not None and not exchange.started and exchange.delivered is not None

    async def __call__(self) -> dict[str, Any]:
        """ASGI receive: the request's body, then `http.disconnect` once the client has gone."""
        exchange = self.current
        while True:
            if self.closed or exchange is None or exchange is not self.current or exchange.done:
                return _DISCONNECT
            if exchange.chunks or (exchange.complete and not exchange.given):
                return self._deliver(exchange)
            if exchange.continue_:
                exchange.continue_ = False
                self.transport.write(_CONTINUE)
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            if not exchange.given:
                self.transport.resume_reading()
            await waiter

    async def send(self, message: dict[str, Any]) -> None:
        """ASGI send: the response's head and body, written as they come."""
        exchange = self.current
        if self.closed or exchange is None or exchange.done:
            return
        kind = message["type"]
        if kind == "http.response.start":
            exchange.status = int(message["status"])
            exchange.headers = list(message.get("headers", ()))
            return
        if kind != "http.response.body":
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        out = b"" if exchange.started else self._head(exchange)
        if not exchange.head and exchange.status not in _NO_BODY:
            if exchange.chunked:
                out += (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
            else:
                out += body
        if out:
            self.transport.write(out)
        if not more:
            exchange.done = True
            self._finished(exchange)
        elif self.writable is not None and not self.writable.done():
            await self.writable

    # --- inside -----------------------------------------------------------------------------

    def _scope(self, request: Request) -> dict[str, Any]:
        parsed = httptools.parse_url(request.url)
        return self.shared.scope(request.method, parsed.path, parsed.query or b"", request.headers, self.client,
                                 request.http_version)

    def _start(self, exchange: Exchange) -> None:
        self.current = exchange
        self.task = asyncio.get_running_loop().create_task(self._run(exchange))

    async def _run(self, exchange: Exchange) -> None:
        scope = exchange.scope
        assert scope is not None
        try:
            await self.shared.app(scope, self, self.send)
        except Park as park:
            self.task = None
            if not exchange.started and not self.closed:
                self._park(exchange, park)
            return
        except asyncio.CancelledError:
            self.task = None
            self._fail(exchange)
            raise
        except Exception:
            log.exception("unhandled error in %s %s", exchange.request.method, scope["path"])
        self.task = None
        if not exchange.done:
            self._fail(exchange)

    def _park(self, exchange: Exchange, park: Park) -> None:
        """Hold the request in the notifier, keeping only what it takes to run it again."""
        self.parked_user = park.user_id
        self.resumed_deadline = park.deadline
        self.held = self.shared.notifier.hold(park, self._resume)
        exchange.scope = None
        exchange.keep = park.keep
        # The body as the app read it, to be read again; what is still on its way goes after it.
        exchange.chunks[:0] = exchange.delivered or ()
        exchange.delivered = None
        if self.reading is None and not self.queue:
            self.parser = None

    def _resume(self, news: bool) -> None:
        """The notifier's call: run the parked request again, its body as the first run read it."""
        self.held = None
        exchange = self.current
        if self.closed or exchange is None:
            return
        scope = exchange.scope = self._scope(exchange.request)
        if exchange.keep:
            scope.update(exchange.keep)
            exchange.keep = None
        exchange.buffered = sum(len(c) for c in exchange.chunks)
        exchange.delivered = []
        exchange.given = False
        self._start(exchange)

    def _deliver(self, exchange: Exchange) -> dict[str, Any]:
        chunks = exchange.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        exchange.chunks = []
        exchange.buffered = 0
        exchange.given = exchange.complete
        if exchange.delivered is not None:
            exchange.delivered.append(body)
            if sum(len(c) for c in exchange.delivered) > REPLAYABLE_BODY_BYTES:
                exchange.delivered = None
        if not exchange.complete:
            self.transport.resume_reading()
        return {"type": "http.request", "body": body, "more_body": not exchange.complete}

    def _head(self, exchange: Exchange) -> bytes:
        exchange.started = True
        status = exchange.status or 500
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
        length = False
        for name, value in exchange.headers:
            if name.lower() == b"content-length":
                length = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not length and not exchange.head and status >= 200 and status not in _NO_BODY:
            if exchange.request.http_version == "1.1":
                exchange.chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                exchange.keep_alive = False  # the end of the body is the end of the connection
        if exchange.continue_ and not exchange.complete:
            exchange.keep_alive = False  # answered before "100 Continue": the body may never come
        if not exchange.keep_alive or self.shared.stopping:
            exchange.keep_alive = False
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    def _finished(self, exchange: Exchange) -> None:
        """The response is complete: close, or go on to the next request."""
        if not exchange.keep_alive:
            self.transport.close()
            return
        self.current = None
        self.resumed_deadline = None
        if self.queue:
            self._start(self.queue.popleft())
            return
        self.queue = None
        self.transport.resume_reading()
        if self.reading is None:
            self._idle(self.shared.keep_alive_s)

    def _fail(self, exchange: Exchange) -> None:
        """The app ended without a whole response: a 500 if nothing was written yet; either way, close."""
        if self.closed or exchange.done:
            return
        exchange.done = True
        if not exchange.started:
            exchange.status = 500
            exchange.headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
            exchange.keep_alive = False
            self.transport.write(self._head(exchange) + b"Internal Server Error")
        self.transport.close()

    def _refuse(self, status: int, reason: bytes) -> None:
        """Answer what could not be parsed (unless an answer is under way) and close."""
        if self.current is None or not self.current.started:
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                                 % (status, _REASONS.get(status, b""), len(reason), reason))
            if self.current is not None:
                self.current.done = True
        self.closed = True
        self.transport.close()

    def _wake_reader(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _idle(self, seconds: float) -> None:
        self._cancel_timer()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._idle_timeout)

    def _idle_timeout(self) -> None:
        self.timer = None
        if self.current is None:
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def shutdown(self) -> None:
        """The server is stopping: close now if idle, else once the answer under way is written."""
        if self.current is None:
            self.transport.close()


class _Refused(Exception):
    """A request refused mid-parse: stops the parser."""
