"""Room history: /messages pagination, /context around an event, and single events."""

from __future__ import annotations

import functools
from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_response, query_int, requester, route, services
from qasid.core import jsonutil
from qasid.core.errors import MatrixError, not_found
from qasid.core.events import state_event
from qasid.core.filters import OPEN, EventFilter, parse_room_event_filter
from qasid.core.sync import MAX_POSITION, parse_sync_token
from qasid.core.sync_rooms import MAX_FILTERED_PAGES, timeline_keep
from qasid.store.sqlite.event_rows import EventRow

MAX_LIMIT = 1000


def parse_position(token: str) -> int:
    """A stream position from a /messages token (`t<N>`) or a sync token."""
    if token.startswith("s"):
        return parse_sync_token(token).events
    # Exactly what we issue, `t` and a position SQLite can hold: anything else would fail in SQL.
    digits = token[1:]
    well_formed = token.startswith("t") and digits.isascii() and digits.isdigit() and len(digits) <= 19
    if well_formed and int(digits) <= MAX_POSITION:
        return int(digits)
    raise MatrixError(400, "M_INVALID_PARAM", "Invalid pagination token")


def _lazy_members(rows: list[EventRow], state: list[EventRow]) -> list[EventRow]:
    senders = {r.pdu["sender"] for r in rows}
    return [s for s in state if s.pdu["type"] == "m.room.member" and s.pdu["state_key"] in senders]


def _room_filter(request: Request) -> EventFilter:
    raw = request.query_params.get("filter")
    if not raw:
        return OPEN
    return _parsed_filter(raw) if len(raw) <= 2048 else parse_room_event_filter(jsonutil.loads(raw))


@functools.lru_cache(maxsize=256)
def _parsed_filter(raw: str) -> EventFilter:
    # Paging clients send the same filter page after page; an EventFilter is immutable, so shared.
    return parse_room_event_filter(jsonutil.loads(raw))


@route("GET", *client_paths("/rooms/{roomId}/messages"))
async def get_messages(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/messages

    - dir=b (default from the newest) or dir=f; `from`/`to` tokens from /sync or earlier pages.
    - `filter` is a RoomEventFilter: types, not_types, senders, not_senders, rooms, not_rooms,
      contains_url and limit narrow the chunk (pages are read on until it is full);
      lazy_load_members adds the senders' member events as `state`. Malformed: 400 M_BAD_JSON.
    - Non-state events of users the requester ignores are left out.
    - Each event is shown only if the room's history visibility let the requester see it then;
      former members page up to when they left, non-members only world_readable rooms (else 403).
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    direction = request.query_params.get("dir", "b")
    if direction not in ("b", "f"):
        raise MatrixError(400, "M_INVALID_PARAM", "dir must be 'b' or 'f'")
    limit = query_int(request, "limit", 10, 1, MAX_LIMIT) or 10
    room_filter = _room_filter(request)
    limit = min(limit, room_filter.limit or limit)
    ceiling = await svc.visibility.readable_upto(room_id, who.user_id)
    raw_from = request.query_params.get("from")
    raw_to = request.query_params.get("to")
    to = parse_position(raw_to) if raw_to else None
    keep = timeline_keep(room_id, room_filter, await svc.userdata.ignored.of(who.user_id))
    if not room_filter.allows_room(room_id):
        keep = _nothing
    rows: list[EventRow] = []
    end: int | None = None
    # A filter may pass few events: read in larger pages then, so the chunk fills in few reads.
    batch = limit if keep is None else max(limit, 50)
    if direction == "b":
        start = min(parse_position(raw_from), ceiling) if raw_from else ceiling
        floor = to if to is not None else 0
        top = start
        for _ in range(MAX_FILTERED_PAGES if keep is not None else 1):
            read = await svc.store.events.room_events(room_id, floor, top, batch, descending=True)
            page = await svc.visibility.visible(room_id, who.user_id, read)
            wanted = [r for r in page if keep is None or keep(r)]
            rows += wanted[:limit - len(rows)]
            end = read[-1].stream_ordering - 1 if len(read) == batch else None
            if wanted and rows[-1] is not wanted[-1]:
                end = rows[-1].stream_ordering - 1  # the page was cut short: the next one starts after what was shown
            if len(rows) >= limit or end is None:
                break
            top = end
    else:
        start = parse_position(raw_from) if raw_from else 0
        top = min(to, ceiling) if to is not None else ceiling
        bottom = start
        for _ in range(MAX_FILTERED_PAGES if keep is not None else 1):
            read = await svc.store.events.room_events(room_id, bottom, top, batch, descending=False)
            page = await svc.visibility.visible(room_id, who.user_id, read)
            wanted = [r for r in page if keep is None or keep(r)]
            rows += wanted[:limit - len(rows)]
            end = read[-1].stream_ordering if len(read) == batch else None
            if wanted and rows[-1] is not wanted[-1]:
                end = rows[-1].stream_ordering  # the page was cut short: the next one starts after what was shown
            if len(rows) >= limit or end is None:
                break
            bottom = end
    now = svc.clock.now_ms()
    chunk = await svc.relations.serve((who.user_id, who.device_id), rows, now)
    body: dict[str, Any] = {"chunk": chunk, "start": f"t{start}"}
    if end is not None:
        body["end"] = f"t{end}"
    if room_filter.lazy_load_members and rows:
        state = await svc.store.events.state_at(room_id, max(r.stream_ordering for r in rows))
        body["state"] = [dict(state_event(s, now), room_id=room_id) for s in _lazy_members(rows, state)]
    return json_response(body)


def _nothing(row: EventRow) -> bool:
    return False


@route("GET", *client_paths("/rooms/{roomId}/context/{eventId}"))
async def get_context(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}

    - The event, up to `limit` events around it, and the state at it (members lazily if filtered).
    - `filter` (a RoomEventFilter) narrows the events around it; ignored users' non-state events
      are left out of them, and the event itself is 404 when its sender is ignored.
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    limit = query_int(request, "limit", 10, 0, MAX_LIMIT) or 0
    room_filter = _room_filter(request)
    ceiling = await svc.visibility.readable_upto(room_id, who.user_id)
    row = await svc.store.events.get_event(request.path_params["eventId"])
    keep = timeline_keep(room_id, OPEN, await svc.userdata.ignored.of(who.user_id))
    if row is None or row.pdu["room_id"] != room_id or row.stream_ordering > ceiling or not await \
            svc.visibility.visible(room_id, who.user_id, [row]) or (keep is not None and not keep(row)):
        raise not_found("Event not found")
    keep = timeline_keep(room_id, room_filter, await svc.userdata.ignored.of(who.user_id))
    half = limit // 2
    before = await svc.store.events.room_events(room_id, 0, row.stream_ordering - 1, half, descending=True)
    after = await svc.store.events.room_events(room_id, row.stream_ordering, ceiling, limit - half, False)
    # The tokens go from what was read, hidden events included: paging on does not read them twice.
    start = (before[-1].stream_ordering if before else row.stream_ordering) - 1
    end = after[-1].stream_ordering if after else row.stream_ordering
    shown = {r.event_id for r in await svc.visibility.visible(room_id, who.user_id, [*reversed(before), *after])
             if keep is None or keep(r)}
    before = [r for r in before if r.event_id in shown]
    after = [r for r in after if r.event_id in shown]
    state = await svc.store.events.state_at(room_id, row.stream_ordering)
    if room_filter.lazy_load_members:
        state = _lazy_members([row, *before, *after], state)
    now = svc.clock.now_ms()
    viewer = (who.user_id, who.device_id)
    events = await svc.relations.serve(viewer, [row, *before, *after], now)
    return json_response({
        "event": events[0],
        "events_before": events[1:1 + len(before)],
        "events_after": events[1 + len(before):],
        "start": f"t{start}",
        "end": f"t{end}",
        "state": [dict(state_event(s, now), room_id=room_id) for s in state],
    })


@route("GET", *client_paths("/rooms/{roomId}/event/{eventId}"))
async def get_event(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}

    - 404 M_NOT_FOUND unless the event is in that room and visible to the requester: the same
      answer whether it is hidden by history visibility, the requester was never in the room,
      or it does not exist.
    """
    who = await requester(request)
    svc = services(request)
    room_id = request.path_params["roomId"]
    try:
        ceiling = await svc.visibility.readable_upto(room_id, who.user_id)
    except MatrixError as e:
        # Someone never in the room gets what a missing event gets: 403 would confirm the room exists.
        raise not_found("Event not found") from e
    row = await svc.store.events.get_event(request.path_params["eventId"])
    if row is None or row.pdu["room_id"] != room_id or row.stream_ordering > ceiling or not await \
            svc.visibility.visible(room_id, who.user_id, [row]):
        raise not_found("Event not found")
    # The original content, with its edit bundled beside it (spec v1.7: never replaced by the server).
    served = await svc.relations.serve((who.user_id, who.device_id), [row], svc.clock.now_ms())
    return json_response(served[0])
