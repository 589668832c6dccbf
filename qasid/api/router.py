"""The ASGI application: one dispatch from path to handler, CORS on every answer.

Every request used to cross five layers of framework middleware and a linear scan of
regexes before reaching its handler; under load that was a sixth of the event loop. Here a
path without parameters is one dict lookup, the rest are matched in registration order
(hot endpoints first), and handlers still receive Starlette's `Request` and return its
`Response`s. Errors inside handlers are rendered by `route`'s wrapper; this layer answers
only what no handler can: OPTIONS preflights, unknown paths (404) and methods (405).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from qasid.api.http import CORS_HEADERS, Handler, error_response, json_response
from qasid.core.errors import MatrixError

_CORS = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in CORS_HEADERS.items()]


@dataclass
class _Template:
    """One path template and its handler per method."""

    regex: re.Pattern[str]
    convertors: dict[str, Any]
    handlers: dict[str, Handler] = field(default_factory=dict)


class QasidApp:
    """ASGI entry point: lifespan, preflight, dispatch, CORS."""

    def __init__(self, routes: Sequence[Route], lifespan: Any, services: Any) -> None:
        self.state = State()
        self.services = services  # what every handler reaches for, without State's lookup
        self._static: dict[str, dict[str, Handler]] = {}
        self._dynamic: list[_Template] = []
        by_pattern: dict[str, _Template] = {}
        for r in routes:
            methods = r.methods or {"GET"}
            if not r.param_convertors:
                handlers = self._static.setdefault(r.path, {})
            else:
                template = by_pattern.get(r.path_regex.pattern)
                if template is None:
                    template = by_pattern[r.path_regex.pattern] = _Template(r.path_regex, r.param_convertors)
                    self._dynamic.append(template)
                handlers = template.handlers
            for method in methods:
                handlers.setdefault(method, r.endpoint)
        # Starlette's router only runs the lifespan protocol (startup, shutdown) here.
        self._lifespan = Router(routes=[], lifespan=lifespan)

    def _match(self, path: str) -> tuple[dict[str, Handler], dict[str, Any]] | None:
        handlers = self._static.get(path)
        if handlers is not None:
            return handlers, {}
        for template in self._dynamic:
            found = template.regex.match(path)
            if found is not None:
                params = {k: template.convertors[k].convert(v) for k, v in found.groupdict().items()}
                return template.handlers, params
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind != "http":
            return
        scope["app"] = self
        response = await self._respond(scope, receive, send)
        response.raw_headers.extend(_CORS)
        await response(scope, receive, send)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> Response:
        method = scope["method"]
        if method == "OPTIONS":
            return json_response({})
        matched = self._match(scope["path"])
        if matched is None:
            return error_response(MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request"))
        handlers, params = matched
        handler = handlers.get(method)
        if handler is None:
            return error_response(MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request method"))
        scope["path_params"] = params
        return await handler(Request(scope, receive, send))
