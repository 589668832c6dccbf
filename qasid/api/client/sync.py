"""/sync: the one endpoint clients keep open."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_paths,
    json_response,
    query_int,
    requester,
    route,
    services,
    until_disconnected,
)
from qasid.core import jsonutil
from qasid.core.errors import MatrixError, not_found
from qasid.core.notifier import ClientGone
from qasid.core.sync import MAX_TIMEOUT_MS, SyncRequest, parse_sync_token

MAX_TIMELINE_LIMIT = 500


async def _filter(request: Request, user_id: str) -> dict[str, Any]:
    raw = request.query_params.get("filter")
    if not raw:
        return {}
    if raw.lstrip().startswith("{"):
        value = _inline_filter(raw) if len(raw) <= 2048 else jsonutil.loads(raw)
    else:
        if not raw.isdigit():
            raise MatrixError(400, "M_INVALID_PARAM", "filter must be a filter ID or a JSON object")
        value = await services(request).store.userdata.get_filter(user_id, int(raw))
        if value is None:
            raise not_found("Unknown filter")
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", "filter must be a JSON object")
    return value


@functools.lru_cache(maxsize=256)
def _inline_filter(raw: str) -> Any:
    # A long-polling client sends the same filter every time; callers only read the result.
    return jsonutil.loads(raw)


def _section(value: Any, key: str) -> dict[str, Any]:
    section = value.get(key) if isinstance(value, dict) else None
    return section if isinstance(section, dict) else {}


@route("GET", *client_paths("/sync"))
async def sync(request: Request) -> Response:
    """GET /_matrix/client/v3/sync

    - Without `since`: an initial sync of current state and the latest events of every room.
    - With `since`: what is new after it; waits up to `timeout` ms (at most 60 s) when nothing is.
    - `filter` inline or by ID: room.timeline.limit, room.state.lazy_load_members, room.include_leave.
    - `org.matrix.msc4222.use_state_after=true`: joined rooms carry the state at the end of the timeline
      as `org.matrix.msc4222.state_after` instead of `state`.
    - To-device messages are deleted only once a later sync's `since` shows they were received.
    """
    who = await requester(request)
    svc = services(request)
    params = request.query_params
    since_raw = params.get("since")
    presence = params.get("set_presence", "online")
    if presence not in ("online", "offline", "unavailable"):
        raise MatrixError(400, "M_INVALID_PARAM", "set_presence must be online, offline or unavailable")
    sync_filter = await _filter(request, who.user_id)
    room_filter = _section(sync_filter, "room")
    timeline = _section(room_filter, "timeline")
    limit = timeline.get("limit", svc.settings.sync_timeline_limit)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise MatrixError(400, "M_BAD_JSON", "timeline limit must be an integer")
    full_state = params.get("full_state", "false") == "true"
    sync_request = SyncRequest(
        user_id=who.user_id,
        device_id=who.device_id,
        since=parse_sync_token(since_raw) if since_raw else None,
        timeout_ms=query_int(request, "timeout", 0, 0, MAX_TIMEOUT_MS) or 0,
        full_state=full_state,
        timeline_limit=max(1, min(limit, MAX_TIMELINE_LIMIT)),
        lazy_load_members=bool(_section(room_filter, "state").get("lazy_load_members")),
        include_leave=bool(room_filter.get("include_leave")),
        unread_thread_notifications=timeline.get("unread_thread_notifications") is True,
        use_state_after=params.get("org.matrix.msc4222.use_state_after", "false") == "true",
    )
    if sync_request.timeout_ms == 0:
        return json_response(await svc.sync.sync(sync_request))
    # A long-poll whose client has gone must not keep waiting (and keep the server from stopping).
    gone = asyncio.ensure_future(until_disconnected(request))
    try:
        return json_response(await svc.sync.sync(sync_request, gone))
    except ClientGone:
        return Response(status_code=499)
    finally:
        gone.cancel()
