"""The HTTP glue every handler shares: routing, auth, bodies, errors, CORS.

A handler is `async def handler(request) -> Response`, registered with `@route`. It parses
and validates, calls one service, and renders the result. Errors are MatrixError values,
rendered here and nowhere else.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qasid.api.asgi import ClientDisconnect, Handler, Request, Response, Route
from qasid.core import jsonutil
from qasid.core.errors import MatrixError, missing_param, too_large
from qasid.core.uia import UiaOperation
from qasid.store.groupcommit import UnstorableText

if TYPE_CHECKING:
    from qasid.core.services import Services

log = logging.getLogger("qasid.api")

CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": "X-Requested-With, Content-Type, Authorization, Date",
    "access-control-expose-headers": "Retry-After",
}

CLIENT_PREFIXES = ("/_matrix/client/v3", "/_matrix/client/r0")


@dataclass
class RouteTable:
    """Routes collected from the api modules, in registration order."""

    routes: list[Route] = field(default_factory=list)

    def add(self, methods: list[str], paths: list[str], handler: Handler) -> None:
        for path in paths:
            self.routes.append(Route(path, handler, set(methods)))


ROUTES = RouteTable()


def client_paths(suffix: str, versions: tuple[str, ...] = CLIENT_PREFIXES) -> list[str]:
    """The same client endpoint under each prefix it is served at."""
    return [prefix + suffix for prefix in versions]


def route(method: str, *paths: str) -> Callable[[Handler], Handler]:
    """Register a handler for one method on one or more paths, rendering its errors."""

    def decorate(fn: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except MatrixError as e:
                return error_response(e)
            except UnstorableText as e:
                return error_response(MatrixError(400, "M_INVALID_PARAM", str(e)))
            except ClientDisconnect:
                return Response(status_code=499)  # nobody is left to read it
            except Exception:
                log.exception("unhandled error in %s %s", request.method, request.path)
                return error_response(MatrixError(500, "M_UNKNOWN", "Internal server error"))

        wrapped.__name__ = fn.__name__
        wrapped.__doc__ = fn.__doc__
        ROUTES.add([method], list(paths), wrapped)
        return fn

    return decorate


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with qasid's one encoder."""
    return Response(jsonutil.dumps(body), status, headers=headers, media_type="application/json")


def empty() -> Response:
    """`{}` — what the spec returns for most writes (clients reject extra fields)."""
    return json_response({})


def error_response(error: MatrixError) -> Response:
    """The one place a MatrixError becomes HTTP."""
    return json_response(error.to_json(), error.status, headers=error.headers or None)


def services(request: Request) -> Services:
    """The server's services, attached to the app at assembly."""
    return request.scope["app"].services  # type: ignore[no-any-return]


# --- bodies -------------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` (never buffered whole)."""
    declared = request.header(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"Request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"Request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object: M_NOT_JSON / M_BAD_JSON / M_TOO_LARGE otherwise."""
    limit = services(request).settings.max_json_body_bytes
    raw = await read_body(request, limit)
    if not raw.strip():
        if allow_empty:
            return {}
        raise MatrixError(400, "M_NOT_JSON", "Request body is empty; a JSON object is required")
    content_type = request.header(b"content-type") or ""
    if content_type.startswith("multipart/"):
        raise MatrixError(400, "M_NOT_JSON", "Expected a JSON body, not multipart")
    value = jsonutil.loads(raw)
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", "The body must be a JSON object")
    return value


def uia_operation(request: Request, body: dict[str, Any]) -> UiaOperation:
    """This request as user-interactive auth binds a session to it: method, path and body."""
    return UiaOperation(request.method, request.path, body)


def require(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """A required field of the expected JSON type."""
    if key not in body:
        raise missing_param(f"Missing field: {key}")
    return expect(body, key, kind)


def optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """An optional field: absent or null gives `default`; a wrong type is M_BAD_JSON."""
    if body.get(key) is None:
        return default
    return expect(body, key, kind)


def expect(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise MatrixError(400, "M_BAD_JSON", f"Field {key} has the wrong type")
    if not isinstance(value, kinds):
        raise MatrixError(400, "M_BAD_JSON", f"Field {key} has the wrong type")
    return value


def query_int(request: Request, name: str, default: int | None, lo: int = 0, hi: int = 2**31) -> int | None:
    """An integer query parameter, clamped to [lo, hi]; garbage is M_INVALID_PARAM."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"Query parameter {name} must be an integer") from None
    return max(lo, min(hi, value))


DELAY_PARAM = "org.matrix.msc4140.delay"


def delay_ms(request: Request) -> int | None:
    """The MSC4140 delay asked for on /send or /state, in milliseconds, or None for an event sent now."""
    raw = request.query_params.get(DELAY_PARAM)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 15:
        raise MatrixError(400, "M_INVALID_PARAM", f"{DELAY_PARAM} must be a whole number of milliseconds above 0")
    return int(raw)


def client_ip(request: Request) -> str:
    """The peer address (a proxy on this host sets it with X-Forwarded-For: see qasid/api/transport)."""
    client = request.scope.get("client")
    return str(client[0]) if client else ""


# --- auth ---------------------------------------------------------------------------------


def token_hash(token: str) -> bytes:
    """What we store instead of the access token."""
    return hashlib.sha256(token.encode()).digest()


def bearer_token(request: Request) -> str | None:
    """The access token from `Authorization: Bearer`; query-string tokens are refused."""
    if b"access_token" in request.scope["query_string"] and "access_token" in request.query_params:
        raise MatrixError(
            401, "M_MISSING_TOKEN",
            "Access tokens in the query string are not accepted; send Authorization: Bearer",
        )
    authorization = request.header(b"authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MatrixError(401, "M_MISSING_TOKEN", "Authorization header must be 'Bearer <token>'")
    return token.strip()


async def requester(request: Request, *, allow_locked: bool = False) -> Any:
    """The authenticated user and device, or 401."""
    token = bearer_token(request)
    if token is None:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
    return await services(request).accounts.authenticate(
        token, client_ip(request), allow_locked=allow_locked
    )
