"""/sync: the one endpoint clients keep open."""

from __future__ import annotations

import functools

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_paths,
    json_response,
    query_int,
    requester,
    route,
    services,
)
from qasid.core import jsonutil
from qasid.core.errors import MatrixError, not_found
from qasid.core.filters import Filter, parse_filter
from qasid.core.notifier import PARSED, ClientGone
from qasid.core.pdu import canonical_json
from qasid.core.sync import MAX_TIMEOUT_MS, SyncRequest, parse_sync_token
from qasid.core.sync_rooms import STATE_AFTER

MAX_TIMELINE_LIMIT = 500


async def _filter(request: Request, user_id: str) -> Filter:
    """The request's filter; a parked long-poll that runs again has it from its first run."""
    kept: Filter | None = request.scope.get(PARSED)
    if kept is None:
        kept = request.scope[PARSED] = await _parse_filter(request, user_id)
    return kept


async def _parse_filter(request: Request, user_id: str) -> Filter:
    raw = request.query_params.get("filter")
    if not raw:
        return NO_FILTER
    if raw.lstrip().startswith("{"):
        if len(raw) <= 2048:
            return _inline_filter(raw)
        return parse_filter(jsonutil.loads(raw))
    if not raw.isdigit() or len(raw) > 18:
        raise MatrixError(400, "M_INVALID_PARAM", "filter must be a filter ID or a JSON object")
    key = (user_id, int(raw))
    cached = _stored_filters.get(key)
    if cached is None:
        value = await services(request).store.userdata.get_filter(user_id, int(raw))
        if value is None:
            raise not_found("Unknown filter")
        cached = _shared_filter(value)
        if len(_stored_filters) >= 16384:
            _stored_filters.clear()
        _stored_filters[key] = cached
    return cached


def _shared_filter(value: object) -> Filter:
    # A parsed filter is ~3.6 KB; every device of one client stores the same one under its own ID,
    # and a parked long-poll holds its filter: one object per distinct filter, not one per device.
    text = canonical_json(value)
    shared = _filters_by_content.get(text)
    if shared is None:
        shared = parse_filter(value)
        if len(_filters_by_content) >= 1024:
            _filters_by_content.clear()
        _filters_by_content[text] = shared
    return shared


NO_FILTER = Filter()
# Stored filters never change: each is parsed once (bounded caches, emptied when full).
_stored_filters: dict[tuple[str, int], Filter] = {}
_filters_by_content: dict[bytes, Filter] = {}


@functools.lru_cache(maxsize=256)
def _inline_filter(raw: str) -> Filter:
    # A long-polling client sends the same filter every time; a Filter is immutable, so shared.
    return parse_filter(jsonutil.loads(raw))


@route("GET", *client_paths("/sync"))
async def sync(request: Request) -> Response:
    """GET /_matrix/client/v3/sync

    - Without `since`: an initial sync of current state and the latest events of every room.
    - With `since`: what is new after it; waits up to `timeout` ms (at most 60 s) when nothing is.
    - `filter` inline or by ID, the whole filter language (qasid/core/filters.py); a malformed one
      is 400 M_BAD_JSON (M_NOT_JSON if not JSON at all).
    - `set_presence` (default online) marks the user online or unavailable; offline leaves
      their presence alone. `presence` carries the presence of users the requester may see.
    - `use_state_after=true` (spec v1.16): joined rooms carry the state at the end of the timeline
      as `state_after` instead of `state`; the unstable `org.matrix.msc4222.use_state_after=true`
      gets it as `org.matrix.msc4222.state_after`.
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
    limit = sync_filter.room.timeline.limit or svc.settings.sync_timeline_limit
    full_state = params.get("full_state", "false") == "true"
    stable_state_after = params.get("use_state_after", "false") == "true"
    sync_request = SyncRequest(
        user_id=who.user_id,
        device_id=who.device_id,
        since=parse_sync_token(since_raw) if since_raw else None,
        timeout_ms=query_int(request, "timeout", 0, 0, MAX_TIMEOUT_MS) or 0,
        full_state=full_state,
        timeline_limit=min(limit, MAX_TIMELINE_LIMIT),
        filter=sync_filter,
        use_state_after=stable_state_after or params.get("org.matrix.msc4222.use_state_after", "false") == "true",
        state_after_key="state_after" if stable_state_after else STATE_AFTER,
    )
    await svc.presence.synced(who.user_id, presence)
    if sync_request.timeout_ms == 0:
        return json_response(await svc.sync.sync(sync_request))
    # A long-poll whose client has gone must not keep waiting (and keep the server from stopping).
    try:
        return json_response(await svc.sync.sync(sync_request, request.receive))
    except ClientGone:
        return Response(status_code=499)
