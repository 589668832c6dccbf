"""Relationships between events: an event's children (/relations) and a room's threads (/threads)."""

from __future__ import annotations

from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.client.messages import MAX_LIMIT, parse_position
from qasid.api.http import json_response, query_int, requester, route, services
from qasid.core.errors import MatrixError
from qasid.core.relation_rules import parse_threads_token

V1_ROOMS = "/_matrix/client/v1/rooms/{roomId}"
DEFAULT_RELATIONS_LIMIT = 5
DEFAULT_THREADS_LIMIT = 5
MAX_THREADS_LIMIT = 100


def _invalid(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


def _recurse(request: Request) -> bool | None:
    raw = request.query_params.get("recurse")
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise _invalid("recurse must be true or false")
    return raw == "true"


@route("GET", V1_ROOMS + "/relations/{eventId}", V1_ROOMS + "/relations/{eventId}/{relType}",
       V1_ROOMS + "/relations/{eventId}/{relType}/{eventType}")
async def get_relations(request: Request) -> Response:
    """GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]

    - The parent's children, newest first (dir=b, the default) or oldest first (dir=f), `limit`
      a page (default 5, at most 1000); `from`/`to` are tokens of this endpoint, /messages or /sync.
    - `recurse=true` (MSC3981) follows relations of relations 3 levels deep (`recursion_depth`).
    - 404 M_NOT_FOUND unless the requester may see the parent (a room they were never in: the same).
      Children they may not see, or whose sender they ignore, are left out.
    """
    who = await requester(request)
    svc = services(request)
    params = request.path_params
    direction = request.query_params.get("dir", "b")
    if direction not in ("b", "f"):
        raise _invalid("dir must be 'b' or 'f'")
    recurse = _recurse(request)
    limit = query_int(request, "limit", DEFAULT_RELATIONS_LIMIT, 1, MAX_LIMIT) or DEFAULT_RELATIONS_LIMIT
    raw_from = request.query_params.get("from")
    raw_to = request.query_params.get("to")
    page = await svc.relations.relations(
        (who.user_id, who.device_id), params["roomId"], params["eventId"], params.get("relType"),
        params.get("eventType"), parse_position(raw_from) if raw_from else None,
        parse_position(raw_to) if raw_to else None, limit, direction == "b", bool(recurse), svc.clock.now_ms())
    body: dict[str, Any] = {"chunk": page.chunk}
    if page.next_position is not None:
        body["next_batch"] = f"t{page.next_position}"
    if raw_from:
        body["prev_batch"] = raw_from
    if recurse is not None:
        body["recursion_depth"] = page.recursion_depth if recurse else 0
    return json_response(body)


@route("GET", V1_ROOMS + "/threads")
async def get_threads(request: Request) -> Response:
    """GET /_matrix/client/v1/rooms/{roomId}/threads

    - The room's thread roots, latest reply first, each with its m.thread aggregation; `include`
      `all` (default) or `participated` (roots the requester sent or replied to); `limit` default
      5, 1 to 100; `next_batch` pages on through `from`.
    - A former member sees threads as they were when they left; 403 for a room they were never in
      (as for one that does not exist). A root by an ignored user comes redacted.
    """
    who = await requester(request)
    svc = services(request)
    include = request.query_params.get("include", "all")
    if include not in ("all", "participated"):
        raise _invalid("include must be 'all' or 'participated'")
    limit = query_int(request, "limit", DEFAULT_THREADS_LIMIT, -1, MAX_THREADS_LIMIT)
    if limit is None or limit < 1:
        raise _invalid("limit must be an integer greater than zero")
    raw_from = request.query_params.get("from")
    try:
        from_position = parse_threads_token(raw_from) if raw_from else None
    except ValueError:
        raise _invalid("Unknown pagination token") from None
    page = await svc.relations.threads((who.user_id, who.device_id), request.path_params["roomId"],
                                       include == "participated", limit, from_position, svc.clock.now_ms())
    body: dict[str, Any] = {"chunk": page.chunk}
    if page.next_position is not None:
        body["next_batch"] = f"t{page.next_position}"
    return json_response(body)
