"""The listening side: the app's lifespan, the socket, the signals and a graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qasid.api.transport.protocol import HttpProtocol
from qasid.core.notifier import Notifier

log = logging.getLogger("qasid.http")

# Only a proxy on this host is believed about the client's address and scheme (X-Forwarded-*).
TRUSTED_PROXIES = frozenset({"127.0.0.1", "::1"})
_ASGI = {"version": "3.0", "spec_version": "2.3"}
BACKLOG = 4096


@dataclass(eq=False)
class Shared:
    """What every connection of one server reads."""

    app: Any
    notifier: Notifier
    scheme: str
    server: tuple[str, int] | None
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this long
    first_request_timeout_s: float = 30.0  # a new connection must have sent a request's head by then
    stopping: bool = False
    connections: set[HttpProtocol] = field(default_factory=set)

    def scope(self, method: str, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
              client: tuple[str, int] | None, http_version: str) -> dict[str, Any]:
        """The ASGI scope of one request."""
        scheme = self.scheme
        if client is not None and client[0] in TRUSTED_PROXIES:
            for name, value in headers:
                if name == b"x-forwarded-for":
                    # The nearest address that is not a trusted proxy is the client's.
                    for host in reversed(value.decode("latin-1").split(",")):
                        host = host.strip()
                        if host and host not in TRUSTED_PROXIES:
                            client = (host, 0)
                            break
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
                    if proto in ("http", "https"):
                        scheme = proto
        return {
            "type": "http", "asgi": _ASGI, "http_version": http_version, "method": method, "scheme": scheme,
            "path": urllib.parse.unquote(raw_path.decode("latin-1")), "raw_path": raw_path, "root_path": "",
            "query_string": query, "headers": headers, "client": client, "server": self.server,
        }


class _Lifespan:
    """The ASGI lifespan protocol, run beside the server."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        await self.outbox.put(message)

    async def _run(self) -> None:
        try:
            await self.app({"type": "lifespan", "asgi": _ASGI}, self._receive, self._send)
        except BaseException:  # the app has logged it and said `failed`
            pass
        finally:
            await self.outbox.put({"type": "lifespan.ended"})

    async def step(self, phase: str) -> bool:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        await self.inbox.put({"type": f"lifespan.{phase}"})
        return (await self.outbox.get())["type"] == f"lifespan.{phase}.complete"


def run(app: Any, notifier: Notifier, *, host: str, port: int, sock: socket.socket | None = None,
        ssl_context: ssl.SSLContext | None = None, grace_s: float = 5.0,
        on_stop: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the process's exit status (3: the app did not start)."""
    import uvloop

    return uvloop.run(_serve(app, notifier, host, port, sock, ssl_context, grace_s, on_stop))


async def _serve(app: Any, notifier: Notifier, host: str, port: int, sock: socket.socket | None,
                 ssl_context: ssl.SSLContext | None, grace_s: float, on_stop: Callable[[], None] | None) -> int:
    loop = asyncio.get_running_loop()
    lifespan = _Lifespan(app)
    if not await lifespan.step("startup"):
        log.error("the server did not start: see the error above")
        return 3
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            return
        shared.stopping = True
        if on_stop is not None:
            on_stop()  # parked long-polls answer now, instead of holding the stop
        stop.set()

    shared = Shared(app, notifier, "https" if ssl_context is not None else "http", None)
    try:
        if sock is not None:
            server = await loop.create_server(lambda: HttpProtocol(shared), sock=sock, ssl=ssl_context,
                                              backlog=BACKLOG)
        else:
            server = await loop.create_server(lambda: HttpProtocol(shared), host=host, port=port,
                                              ssl=ssl_context, backlog=BACKLOG, reuse_address=True)
    except OSError as e:
        log.error("cannot listen on %s:%s: %s", host, port, e)
        await lifespan.step("shutdown")
        return 1
    name = server.sockets[0].getsockname()
    shared.server = (str(name[0]), int(name[1])) if isinstance(name, tuple) else None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    log.info("listening on %s", shared.server)
    await stop.wait()
    log.info("stopping: no new connections; answering the requests under way")
    server.close()
    await _drain(shared, grace_s)
    if not await lifespan.step("shutdown"):
        return 1
    log.info("stopped")
    return 0


async def _drain(shared: Shared, grace_s: float) -> None:
    """Close idle connections, let answers under way finish for up to `grace_s`, then cut the rest."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while shared.connections and loop.time() < deadline:
        for connection in list(shared.connections):
            connection.shutdown()
        await asyncio.sleep(0.05)
    for connection in list(shared.connections):
        if connection.task is not None:
            connection.task.cancel()
        connection.transport.close()
    if shared.connections:
        log.warning("stopped with %d request(s) unanswered: the %.0f s grace period ran out",
                    len(shared.connections), grace_s)
        await asyncio.sleep(0.05)
