"""Spaces: the room hierarchy, and room summaries (MSC3266) that clients show before joining."""

from __future__ import annotations

from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, requester, route, services
from qasid.core.errors import invalid_param
from qasid.core.ids import check_room_id
from qasid.core.membership import resolve_room
from qasid.core.spaces import Spaces

V1 = "/_matrix/client/v1"
# MSC3266's unstable prefix, still what several clients call.
SUMMARY_UNSTABLE = "/_matrix/client/unstable/im.nheko.summary"


def _int_param(request: Request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < minimum:
        raise invalid_param(f"{name} must be an integer of at least {minimum}")
    return int(raw)


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid_param(f"{name} must be 'true' or 'false'")
    return raw == "true"


@route("GET", V1 + "/rooms/{roomId}/hierarchy")
async def hierarchy(request: Request) -> Response:
    """GET /_matrix/client/v1/rooms/{roomId}/hierarchy

    - The space's rooms depth first, each space's children in the spec's order, paged by `limit`
      (at most 50) and `from`; `max_depth` at most 10; `suggested_only` follows only suggested children.
    - Only rooms the user may see or join; 403 M_FORBIDDEN for a root they may not see, as for one
      that does not exist. `max_depth`/`suggested_only` that differ from the token's: 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    suggested_only = _bool_param(request, "suggested_only")
    max_depth = _int_param(request, "max_depth", 0)
    limit = _int_param(request, "limit", 1)
    check_room_id(request.path_params["roomId"])
    spaces = Spaces(services(request).rooms)
    return json_response(await spaces.hierarchy(
        who.user_id, request.path_params["roomId"], suggested_only=suggested_only, max_depth=max_depth,
        limit=limit, from_token=request.query_params.get("from")))


async def _summary(request: Request) -> dict[str, Any]:
    who = await requester(request)
    rooms = services(request).rooms
    room_id = await resolve_room(rooms, request.path_params["roomIdOrAlias"])
    return await Spaces(rooms).room_summary(who.user_id, room_id)


@route("GET", V1 + "/room_summary/{roomIdOrAlias}")
async def room_summary(request: Request) -> Response:
    """GET /_matrix/client/v1/room_summary/{roomIdOrAlias}

    - Name, topic, avatar, alias, member count, join rule, version, encryption and the user's membership.
    - 404 M_NOT_FOUND unless the user may see or join the room, exactly as for a missing room.
    - `via` is accepted and unused: every room is on this server.
    """
    return json_response(await _summary(request))


@route("GET", SUMMARY_UNSTABLE + "/summary/{roomIdOrAlias}", SUMMARY_UNSTABLE + "/rooms/{roomIdOrAlias}/summary")
async def room_summary_unstable(request: Request) -> Response:
    """GET /_matrix/client/unstable/im.nheko.summary/summary/{roomIdOrAlias}

    - As /v1/room_summary (also at the MSC's older path, .../rooms/{roomIdOrAlias}/summary, which
      the Rust SDK calls), with the version and encryption also under the MSC's unstable names.
    """
    summary = await _summary(request)
    for stable, unstable in (("room_version", "im.nheko.summary.room_version"),
                             ("room_version", "im.nheko.summary.version"),
                             ("encryption", "im.nheko.summary.encryption")):
        if stable in summary:
            summary[unstable] = summary[stable]
    return json_response(summary)
