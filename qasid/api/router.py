"""The ASGI application: one dispatch from path to handler, CORS on every answer.

Routes match the path as it came on the wire, still percent-encoded, and each captured
parameter is decoded afterwards: a `%2F` inside an ID (half of all Megolm session IDs hold a
`/`) stays inside its parameter instead of splitting the path.

Every request used to cross five layers of framework middleware and a linear scan of
regexes before reaching its handler; under load that was a sixth of the event loop. Here a
path without parameters is one dict lookup, the rest are matched in registration order
(hot endpoints first), and handlers receive a `Request` and return a `Response` (`asgi.py`).
Errors inside handlers are rendered by `route`'s wrapper; this layer answers
only what no handler can: OPTIONS preflights, unknown paths (404) and methods (405).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

from qasid.api.asgi import Handler, Receive, Request, Response, Route, Scope, Send
from qasid.api.http import CORS_HEADERS, error_response, json_response
from qasid.api.observe import PREFLIGHT, UNMATCHED, RequestObserver
from qasid.core.errors import MatrixError
from qasid.core.notifier import PARSED, Park

log = logging.getLogger("qasid.api")

_CORS = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in CORS_HEADERS.items()]


@dataclass
class _Template:
    """One path template and its handler per method."""

    regex: re.Pattern[str]
    path: str
    handlers: dict[str, Handler] = field(default_factory=dict)


class QasidApp:
    """ASGI entry point: lifespan, preflight, dispatch, CORS."""

    def __init__(
        self, routes: Sequence[Route], lifespan: Callable[[Any], contextlib.AbstractAsyncContextManager[None]],
        services: Any, observer: RequestObserver | None = None,
    ) -> None:
        self.state = SimpleNamespace()
        self.services = services  # what every handler reaches for, without State's lookup
        self.observer = observer or RequestObserver(None, log_requests=False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._static: dict[str, dict[str, Handler]] = {}
        self._dynamic: list[_Template] = []
        by_pattern: dict[str, _Template] = {}
        for r in routes:
            if not r.has_params:
                handlers = self._static.setdefault(r.path, {})
            else:
                template = by_pattern.get(r.regex.pattern)
                if template is None:
                    template = by_pattern[r.regex.pattern] = _Template(r.regex, r.path)
                    self._dynamic.append(template)
                handlers = template.handlers
            for method in r.methods:
                handlers.setdefault(method, r.endpoint)
        self._lifespan = lifespan

    def _match(self, raw_path: str) -> tuple[dict[str, Handler], dict[str, Any], str] | None:
        """The handlers, decoded parameters and template of the route `raw_path` (percent-encoded) names."""
        handlers = self._static.get(raw_path)
        if handlers is not None:
            return handlers, {}, raw_path
        for template in self._dynamic:
            found = template.regex.match(raw_path)
            if found is not None:
                try:
                    params = {name: unquote(value, errors="strict") for name, value in found.groupdict().items()}
                except UnicodeDecodeError:
                    raise MatrixError(400, "M_INVALID_PARAM", "Path parameter is not UTF-8") from None
                return template.handlers, params, template.path
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._run_lifespan(receive, send)
            return
        if kind != "http":
            return
        scope["app"] = self
        observer = self.observer
        # A parked long-poll runs again when woken: it keeps its first start and its ID.
        started: float = scope.get("qasid.started") or time.perf_counter()
        request_id: bytes = scope.get("qasid.request_id") or observer.request_id(scope)
        scope["qasid.route"] = UNMATCHED
        status = 500  # unless a response is made: a request cut short (client gone, server stopping)
        try:
            response = await self._respond(scope, receive, send)
            status = response.status_code
            response.raw_headers.extend(_CORS)
            response.raw_headers.append((b"x-request-id", request_id))
            await response(scope, receive, send)
        except Park as park:
            park.keep = {"qasid.started": started, "qasid.request_id": request_id}
            if PARSED in scope:
                park.keep[PARSED] = scope[PARSED]
            status = 0  # held by the transport, not answered yet: the run that answers records it
            raise
        finally:
            if status:
                observer.finished(scope["qasid.route"], scope["method"], status, time.perf_counter() - started,
                                  request_id)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        """Start up before the first request, shut down after the last (the ASGI lifespan protocol)."""
        await receive()  # lifespan.startup
        self._loop = asyncio.get_running_loop()
        started = False
        try:
            async with self._lifespan(self):
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except BaseException as e:
            phase = "shutdown" if started else "startup"
            log.exception("lifespan %s failed", phase)
            await send({"type": f"lifespan.{phase}.failed", "message": repr(e)})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    def begin_shutdown(self) -> None:
        """Answer parked long-polls now, so a stop or restart waits for no client (safe from a signal handler)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.services.notifier.close)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> Response:
        method = scope["method"]
        if method == "OPTIONS":
            scope["qasid.route"] = PREFLIGHT
            return json_response({})
        try:
            matched = self._match(_raw_path(scope))
        except MatrixError as e:
            return error_response(e)
        if matched is None:
            return error_response(MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request"))
        handlers, params, scope["qasid.route"] = matched
        handler = handlers.get(method)
        if handler is None:
            return error_response(MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request method"))
        scope["path_params"] = params
        return await handler(Request(scope, receive))


def _raw_path(scope: Scope) -> str:
    """The path as sent, percent-encoding kept; the decoded path if the server gave no raw one."""
    raw = scope.get("raw_path")
    if not raw:
        return str(scope["path"])
    return bytes(raw).decode("latin-1").partition("?")[0]
